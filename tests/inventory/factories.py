"""Inventory factories. Stock only ever enters through ``stock_receive`` (so the ledger holds)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from inventory import selectors
from inventory.models import Item, ItemKind, Location, Vendor
from inventory.services import stock
from patients.models import Patient


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Room {n}")
    code = factory.Sequence(lambda n: f"room-{n}")


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n} Pharma Inc.")
    contact_name = "Ms. Dela Cruz"
    email = factory.Sequence(lambda n: f"orders{n}@vendor.example.com")
    lead_time_days = 5


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"MED-{n:05d}")
    name = factory.Sequence(lambda n: f"Paracetamol {n}")
    generic_name = "paracetamol"
    strength = "500 mg"
    form = "Tablet"
    kind = ItemKind.MEDICATION
    unit = "tablet"
    reorder_point = Decimal("20")
    reorder_quantity = Decimal("100")
    preferred_vendor = factory.SubFactory(VendorFactory)
    default_location = factory.SubFactory(LocationFactory)

    @factory.post_generation
    def search(self, create, extracted, **kwargs):
        self.refresh_search_text()
        if create:
            self.save(update_fields=["search_text"])


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    id_number = factory.Sequence(lambda n: f"2026{n:05d}")
    first_name = "Juan"
    last_name = factory.Sequence(lambda n: f"Dela Cruz {n}")
    sex = "M"
    birth_date = date(2004, 5, 1)


def receive(item, *, quantity, days=365, batch=None, location=None, cost="2.50", actor=None):
    """Put a lot into stock the proper way (service + movement)."""
    movement = stock.stock_receive(
        actor=actor,
        item=item,
        location=location or item.default_location,
        batch_number=batch or f"B{timezone.now().timestamp():.0f}-{quantity}-{days}",
        expiry_date=timezone.localdate() + timedelta(days=days) if days is not None else None,
        quantity=quantity,
        unit_cost=Decimal(cost),
    )
    return movement.lot


def count_sheet(st, entries: dict) -> dict:
    """POST data for the count sheet's formset: ``{line: (counted, reason)}``, other lines blank."""
    data = {}
    for n, line in enumerate(selectors.stocktake_sheet(st)):
        counted, reason = entries.get(line, ("", ""))
        data |= {
            f"count-{n}-line": line.pk,
            f"count-{n}-counted": counted,
            f"count-{n}-reason": reason,
        }
    total = len(selectors.stocktake_sheet(st))
    return data | {"count-TOTAL_FORMS": total, "count-INITIAL_FORMS": total}
