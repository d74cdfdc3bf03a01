"""inventory.screens (hand-written SQL for the stock overview and an item's page) returns
what ORM queries return (those in inventory.selectors for the overview; for an item's page,
the plain ORM reading of the item, its lots and its ledger written here): the same rows in
the same order, the same field values, stock figures and related objects, the same
pagination."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.paginator import Paginator
from django.db.models import F, Sum
from django.http import Http404
from django.test import override_settings
from django.utils import formats, timezone, translation

from inventory import screens, selectors
from inventory.models import (
    OPEN_PO_STATUSES,
    Category,
    Item,
    ItemKind,
    Location,
    LotStatus,
    PurchaseOrderLine,
    StockLot,
    StockMovement,
)
from inventory.services import dispensing, purchasing, stock
from inventory.templatetags.stock_rows import _decimal_sep, _qty
from tests.inventory.factories import (
    ItemFactory,
    LocationFactory,
    PatientFactory,
    VendorFactory,
    receive,
)

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _same_item(fast: Item, orm: Item) -> None:
    assert _values(fast) == _values(orm)
    assert (fast.on_hand, fast.usable, fast.on_order) == (orm.on_hand, orm.usable, orm.on_order)


@pytest.fixture
def shelf(inventory_user):
    """Items of two kinds and categories at two places; one holds an expired lot the
    morning job has not quarantined yet (stored 'available' overstates its usable stock),
    one has stock on order, one none at all, one is inactive."""
    pills = Category.objects.create(name="Analgesics")
    dental = LocationFactory(name="Dental room", code="dental")
    items = {}
    for n, name in enumerate(["Amoxicillin", "Bandage 100% cotton", "Cetirizine", "Zinc_oxide"]):
        items[name] = ItemFactory(
            name=name,
            category=pills if n % 2 == 0 else None,
            reorder_point=Decimal("30"),
            allows_fractions=True,
        )
    items["Gauze"] = ItemFactory(name="Gauze", kind=ItemKind.MEDICAL_SUPPLY)
    items["Retired"] = ItemFactory(name="Retired", is_active=False)
    receive(items["Amoxicillin"], quantity=Decimal("12.5"))
    receive(items["Amoxicillin"], quantity=40, location=dental, batch="D-1")
    stale = receive(items["Cetirizine"], quantity=50)
    StockLot.objects.filter(pk=stale.pk).update(expiry_date=timezone.localdate() - timedelta(1))
    receive(items["Cetirizine"], quantity=5, days=900)
    receive(items["Gauze"], quantity=300, days=None)  # no expiry
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=items["Zinc_oxide"], quantity=25, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    return {"items": items, "pills": pills, "dental": dental}


FILTERS = [
    {},
    {"q": "cotton"},
    {"q": "100%"},  # LIKE wildcards in the search are literal
    {"q": "c_oxide"},
    {"q": "  AMOX "},
    {"kind": ItemKind.MEDICAL_SUPPLY},
    {"category": "pills"},
    {"location": "dental"},
    {"q": "i", "category": "pills"},
    {"status": "low"},
    {"status": "out"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
@pytest.mark.parametrize("per_page", [2, 25])
def test_stock_overview_page_is_the_orm_overview(shelf, filters, per_page):
    filters = {
        k: shelf["pills"] if v == "pills" else shelf["dental"] if v == "dental" else v
        for k, v in filters.items()
    }
    orm = Paginator(selectors.stock_overview(**filters), per_page)
    for number in range(1, orm.num_pages + 2):  # past the end: the last page, as before
        expected = orm.get_page(number)
        got = screens.stock_overview_page(
            number, per_page=per_page, categories=Category.objects.all(), **filters
        )
        assert (got.number, got.paginator.count) == (expected.number, orm.count)
        assert got.paginator.num_pages == orm.num_pages
        assert len(got.object_list) == len(expected.object_list)
        for fast, ref in zip(got.object_list, expected.object_list, strict=True):
            _same_item(fast, ref)
            assert (fast.category.name if fast.category else None) == (
                ref.category.name if ref.category else None
            )


def test_stock_overview_usable_excludes_expired_and_quarantined_lots(shelf, inventory_user):
    page = screens.stock_overview_page(1, per_page=25, q="cetirizine")
    (row,) = page.object_list
    assert (row.on_hand, row.usable) == (55, 5)  # the expired 50 are not usable
    lot = StockLot.objects.get(item=row, expiry_date__gt=timezone.localdate())
    stock.lot_set_status(actor=inventory_user, lot=lot, status="quarantined")
    (row,) = screens.stock_overview_page(1, per_page=25, q="cetirizine").object_list
    assert (row.on_hand, row.usable) == (55, 0)


def test_overview_rows_read_missing_categories(shelf, django_assert_num_queries):
    with django_assert_num_queries(2):  # count and rows in one, the categories not supplied
        page = screens.stock_overview_page(1, per_page=25, categories=[])
        assert {i.category.name for i in page.object_list if i.category_id} == {"Analgesics"}


def orm_item(pk) -> Item:
    """The item an item's page shows, read with the ORM: its category, preferred vendor and
    default location, and its stock figures from its lots and order lines: on hand (every
    lot), usable (available lots not past their expiry), on order (what sent or partly
    received orders have yet to deliver)."""
    item = Item.objects.select_related("category", "preferred_vendor", "default_location").get(
        pk=pk
    )
    lots = StockLot.objects.filter(item=item)
    usable = lots.filter(status=LotStatus.AVAILABLE).exclude(expiry_date__lt=timezone.localdate())
    item.on_hand = lots.aggregate(total=Sum("quantity"))["total"] or Decimal(0)
    item.usable = usable.aggregate(total=Sum("quantity"))["total"] or Decimal(0)
    open_lines = PurchaseOrderLine.objects.filter(item=item, order__status__in=OPEN_PO_STATUSES)
    item.on_order = sum(
        (max(line.quantity_ordered - line.quantity_received, 0) for line in open_lines),
        Decimal(0),
    )
    return item


def orm_lots(item: Item) -> list[StockLot]:
    """An item's lots, read with the ORM: first expiry first (none last), then oldest."""
    lots = StockLot.objects.filter(item=item).select_related("location")
    return list(lots.order_by(F("expiry_date").asc(nulls_last=True), "id"))


def orm_ledger(item: Item) -> list[StockMovement]:
    """An item's movements, read with the ORM: newest first, each with its lot and the
    lot's location, its actor, patient and purchase order line (and order) loaded."""
    movements = StockMovement.objects.filter(item=item).select_related(
        "lot__location", "actor", "patient", "purchase_order_line__order"
    )
    return list(movements.order_by("-created_at", "-id"))


def orm_ledger_page(item: Item, number, *, per_page: int, cap: int):
    """Page ``number`` of :func:`orm_ledger` as the item page pages it: Django's paginator
    over at most ``cap`` movements."""
    return Paginator(orm_ledger(item)[:cap], per_page).get_page(number)


def ledger_values(m: StockMovement) -> dict:
    """What a ledger row (``screens.LedgerRow``, as a dict) holds of a movement read by the
    ORM: its own fields, its lot's batch and location (by name), the names of the people
    on it and its purchase order's number ("" where it has none)."""
    patient, line, actor = m.patient, m.purchase_order_line, m.actor
    return {
        "pk": m.pk,
        "created_at": m.created_at,
        "kind": m.kind,
        "reason_code": m.reason_code,
        "quantity": m.quantity,
        "batch_number": m.lot.batch_number,
        "location": m.lot.location.name,
        "patient_id": m.patient_id,
        "patient_name": patient.full_name if patient else "",
        "patient_number": patient.id_number if patient else "",
        "visit_id": m.visit_id,
        "destination": m.destination,
        "purchase_order_line_id": m.purchase_order_line_id,
        "order_number": line.order.number if line else "",
        "note": m.note,
        "actor_id": m.actor_id,
        "actor_name": actor.full_name if actor else "",
    }


def ledger_dicts(rows) -> list[dict]:
    return [row._asdict() for row in rows]


def assert_same_item_and_lots(got: Item, lots: list[StockLot], ref: Item) -> None:
    """``item_rows_page``'s item and lots are :func:`orm_item` and :func:`orm_lots`: the
    same fields and figures, the same related rows (loaded, not read when used), the same
    lots in the same order, each with its location and the page's item."""
    _same_item(got, ref)
    for fk in ("category", "preferred_vendor", "default_location"):
        if getattr(ref, f"{fk}_id") is None:
            assert getattr(got, f"{fk}_id") is None
        else:
            assert fk in got._state.fields_cache
            assert _values(getattr(got, fk)) == _values(getattr(ref, fk))
    ref_lots = orm_lots(ref)
    assert [_values(lot) for lot in lots] == [_values(lot) for lot in ref_lots]
    assert [_values(lot.location) for lot in lots] == [_values(lot.location) for lot in ref_lots]
    assert all(lot.item is got for lot in lots)


def test_item_page_item_and_lots_are_the_orm_item_and_lots(shelf):
    for item in shelf["items"].values():
        got, lots, _page = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)
        assert_same_item_and_lots(got, lots, orm_item(item.pk))
    # The expired lot the morning job has not quarantined yet is on hand, not usable.
    cetirizine = screens.item_rows_page(shelf["items"]["Cetirizine"].pk, 1, per_page=1, cap=9)[0]
    assert (cetirizine.on_hand, cetirizine.usable) == (55, 5)
    zinc = screens.item_rows_page(shelf["items"]["Zinc_oxide"].pk, 1, per_page=1, cap=9)[0]
    assert zinc.on_order == 25


def test_item_page_ledger_is_the_orm_ledger(shelf, nurse_user, inventory_user):
    item = shelf["items"]["Gauze"]
    patient = PatientFactory(first_name="Maria")
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=2, patient=patient)
    with time_machine.travel(timezone.now(), tick=False):  # six at one moment: by id
        for n in range(6):
            dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    line = purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=item, quantity=10, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    expiry = timezone.localdate() + timedelta(days=200)
    receipt = purchasing.Receipt(
        line.pk, Decimal("10"), "PO-1", expiry, None, item.default_location
    )
    purchasing.purchase_order_receive(actor=inventory_user, order=order, receipts=[receipt])
    orm = orm_ledger(item)
    assert len(orm) == 9 and len({m.created_at for m in orm}) == 4
    assert {m.actor_id for m in orm} >= {None, nurse_user.pk, inventory_user.pk}
    assert any(m.patient_id for m in orm) and any(m.purchase_order_line_id for m in orm)
    for cap, per_page in ((2500, 25), (2500, 4), (5, 2), (9, 3), (8, 3)):
        reference = Paginator(orm[:cap], per_page)
        for number in [*range(-1, reference.num_pages + 2), None, "x", "2.5"]:
            _item, _lots, page = screens.item_rows_page(item.pk, number, per_page=per_page, cap=cap)
            expected = reference.get_page(number)
            assert page.paginator.count == min(len(orm), cap)
            assert page.paginator.capped == (len(orm) > cap)
            assert page.paginator.num_pages == reference.num_pages
            assert page.number == expected.number
            assert ledger_dicts(page.object_list) == [ledger_values(m) for m in expected]


@pytest.mark.parametrize("server_side_binding", [False, True])
def test_item_page_is_one_round_trip(
    shelf, server_side_binding, monkeypatch, django_assert_num_queries
):
    from django.db import connection

    options = {**connection.settings_dict.get("OPTIONS", {})}
    options["server_side_binding"] = server_side_binding  # then one round trip per statement
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    for item in shelf["items"].values():  # no one named on their ledgers' rows
        with django_assert_num_queries(7 if server_side_binding else 1):
            got, lots, page = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)
            assert got.default_location.name == item.default_location.name
            assert all(lot.location.pk == lot.location_id for lot in lots)
        assert_same_item_and_lots(got, lots, orm_item(item.pk))
        assert ledger_dicts(page) == [ledger_values(m) for m in orm_ledger(item)]


@pytest.mark.parametrize("number", [None, "", "abc", "2.5", 2.0, "0", "-3", 1, "2", "3", "99"])
def test_item_page_is_item_lots_and_ledger_page_in_one_round_trip(
    shelf, number, django_assert_num_queries
):
    item = shelf["items"]["Gauze"]
    for n in range(7):
        dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    receive(item, quantity=5, days=None, batch="G-2")
    past_an_end = number in ("0", "-3", "99")  # the last page is read again
    with django_assert_num_queries(1 + past_an_end):
        got, lots, page = screens.item_rows_page(item.pk, number, per_page=3, cap=2500)
        rows = ledger_dicts(page)
    ref_page = orm_ledger_page(item, number, per_page=3, cap=2500)
    assert_same_item_and_lots(got, lots, orm_item(item.pk))
    assert page.number == ref_page.number and page.paginator.count == ref_page.paginator.count
    assert page.paginator.num_pages == 3 and page.paginator.capped is False
    assert rows == [ledger_values(m) for m in ref_page]
    assert {r["batch_number"] for r in rows} <= {lot.batch_number for lot in lots}


def test_item_page_of_no_item_is_a_404(shelf):
    gone = ItemFactory(name="Gone")
    gone_pk = gone.pk
    gone.delete()
    for bad in (0, "x", None, "", "1.5", gone_pk):
        with pytest.raises(Http404):
            screens.item_rows_page(bad, 1, per_page=25, cap=2500)


def test_item_page_caps_the_count(shelf):
    item = shelf["items"]["Gauze"]
    for n in range(6):
        dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    _item, _lots, page = screens.item_rows_page(item.pk, 1, per_page=2, cap=4)
    assert (page.paginator.count, page.paginator.capped, page.paginator.num_pages) == (4, True, 2)
    assert ledger_dicts(page) == [ledger_values(m) for m in orm_ledger(item)[:2]]
    last = screens.item_rows_page(item.pk, 9, per_page=2, cap=4)[2]
    assert last.number == 2
    assert ledger_dicts(last) == [ledger_values(m) for m in orm_ledger(item)[2:4]]


VALUES = ["0", "-0", "12.500", "1200.000", "0.001", "-3.250", "123456789012.5", "1E+3", "7E-3"]


@pytest.mark.parametrize("language", ["en", "de", "fr"])
@pytest.mark.parametrize("grouping", [False, True])
def test_qty_writes_what_localize_writes(language, grouping):
    with translation.override(language), override_settings(USE_THOUSAND_SEPARATOR=grouping):
        sep = _decimal_sep()
        assert (sep is None) == grouping
        for text in VALUES:
            value = Decimal(text)
            assert _qty(value, sep) == _qty(value) == formats.localize(value.normalize())


def test_filter_lists_are_the_form_querysets(shelf):
    LocationFactory(name="Old store", code="old", is_active=False)
    Category.objects.create(name="antiseptics")  # lower case sorts as the database sorts
    categories, locations = screens.filter_lists()
    assert [_values(c) for c in categories] == [_values(c) for c in Category.objects.all()]
    active = Location.objects.filter(is_active=True)
    assert [_values(loc) for loc in locations] == [_values(loc) for loc in active]
    assert "Old store" not in {loc.name for loc in locations}


@pytest.mark.parametrize("number", [None, "", "abc", "2.5", 2.0, "0", "-3", 0, "2", "3", "99"])
@pytest.mark.parametrize("server_side_binding", [False, True])
def test_page_numbers_are_read_as_django_reads_them(
    shelf, number, server_side_binding, monkeypatch, django_assert_max_num_queries
):
    from django.db import connection

    options = {**connection.settings_dict.get("OPTIONS", {})}
    options["server_side_binding"] = server_side_binding  # then count and rows go separately
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    expected = Paginator(selectors.stock_overview(), 2).get_page(number)
    expected_ids = [i.pk for i in expected.object_list]
    past_an_end = number in ("0", "-3", 0, "99")  # the last page is read again
    with django_assert_max_num_queries((3 if server_side_binding else 2) + past_an_end):
        got = screens.stock_overview_page(number, per_page=2, categories=Category.objects.all())
        assert got.number == expected.number
        assert [i.pk for i in got.object_list] == expected_ids
