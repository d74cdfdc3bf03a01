"""The catalogue: items, locations, categories and vendors."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory.models import (
    Category,
    Item,
    Location,
    StockLot,
    Stocktake,
    StocktakeStatus,
    Vendor,
)


@transaction.atomic
def item_save(*, actor: User | None, item: Item) -> Item:
    """Create or update a catalogue item (the form has validated its fields)."""
    creating = item.pk is None
    if item.reorder_point < 0 or item.reorder_quantity < 0:
        raise ValidationError("Reorder point and quantity cannot be negative.")
    if not item.allows_fractions:
        for name in ("reorder_point", "reorder_quantity"):
            value = getattr(item, name)
            if value != value.to_integral_value():
                raise ValidationError(
                    {name: f"{item.unit.capitalize()} cannot be split: enter a whole number."}
                )
    item.refresh_search_text()
    item.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=item,
        detail={"sku": item.sku},
    )
    return item


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def _save_unique(obj, errors: dict[str, tuple[str, str]]) -> None:
    """Save ``obj``; a unique violation named in ``errors`` (constraint name → (field,
    message)) becomes a ``ValidationError`` on that field instead of a 500."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        for constraint, (field_name, message) in errors.items():
            if constraint in _constraint_name(exc):
                raise ValidationError({field_name: message}) from exc
        raise


@transaction.atomic
def location_save(*, actor: User | None, location: Location) -> Location:
    """Create or update a storage location. Names are unique ignoring case, codes unique.

    Retiring a location (``is_active`` False) is refused while any lot there holds stock or a
    count is open there. The location row is locked first; receipts and transfers into a
    location share-lock it and refuse a retired one, so the two can never both succeed.
    Raises ``ValidationError`` and changes nothing on failure."""
    creating = location.pk is None
    retiring = False
    if not creating:
        was_active = (
            Location.objects.select_for_update()
            .values_list("is_active", flat=True)
            .get(pk=location.pk)
        )
        retiring = was_active and not location.is_active
    if retiring:
        lots = StockLot.objects.filter(location=location, quantity__gt=0).count()
        if lots:
            raise ValidationError(
                {
                    "is_active": f"{location.name} still holds stock in {lots} "
                    f"lot{'s' if lots != 1 else ''}: transfer or dispose of it before "
                    "retiring the location."
                }
            )
        if Stocktake.objects.filter(location=location, status=StocktakeStatus.OPEN).exists():
            raise ValidationError(
                {"is_active": "A stock count is open here: post it before retiring the location."}
            )
    _save_unique(
        location,
        {
            "inventory_location_name_ci_unique": (
                "name",
                "A location with this name already exists.",
            ),
            "inventory_location_code": ("code", "A location with this code already exists."),
        },
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=location,
        detail={"name": location.name, "code": location.code, "is_active": location.is_active},
    )
    return location


@transaction.atomic
def category_save(*, actor: User | None, category: Category) -> Category:
    """Create or rename an item category (names unique ignoring case). Raises
    ``ValidationError`` on a duplicate name, including one created concurrently."""
    creating = category.pk is None
    _save_unique(
        category,
        {
            "inventory_category_name_ci_unique": (
                "name",
                "A category with this name already exists.",
            )
        },
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=category,
        detail={"name": category.name},
    )
    return category


@transaction.atomic
def vendor_save(*, actor: User | None, vendor: Vendor) -> Vendor:
    creating = vendor.pk is None
    vendor.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=vendor,
    )
    return vendor
