"""Writes for inventory. Every quantity change locks the lot row (``SELECT ... FOR UPDATE``)
and writes its immutable movement in the same transaction; the CHECK constraint on
``StockLot.quantity`` is the last line of defence against negative stock.

Failures raise ``ValidationError`` (bad input, not enough stock, wrong state) and leave
nothing changed. Lock order is always lots first (in id order), then the items whose stock
totals change (in id order, see ``inventory.totals``), then the audit chain lock.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit_record
from inventory import totals
from inventory.models import (
    ADJUST_REASONS,
    DISPOSE_REASONS,
    STOCKTAKE_REASONS,
    Category,
    Equipment,
    IntervalUnit,
    Item,
    ItemKind,
    Location,
    LotStatus,
    MaintenanceLog,
    MaintenanceSchedule,
    MovementKind,
    POStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    ReasonCode,
    StockLot,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StocktakeStatus,
    Vendor,
)

_REORDER_LOCK_KEY = 7_368_270_105  # serialises the purchase-order drafting job


# --- Helpers --------------------------------------------------------------------------------


def clean_quantity(
    item: Item, value, *, field_name: str = "quantity", allow_zero: bool = False
) -> Decimal:
    """A positive Decimal with at most 3 decimals; whole numbers unless the unit allows
    fractions. Raises ``ValidationError`` keyed by ``field_name``."""
    try:
        qty = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({field_name: "Enter a number."}) from None
    if not qty.is_finite():
        raise ValidationError({field_name: "Enter a number."})
    if qty < 0 or (qty == 0 and not allow_zero):
        raise ValidationError({field_name: "Enter a quantity greater than zero."})
    if qty != qty.quantize(Decimal("0.001")):
        raise ValidationError({field_name: "Use at most three decimal places."})
    if not item.allows_fractions and qty != qty.to_integral_value():
        raise ValidationError(
            {field_name: f"{item.unit.capitalize()} cannot be split: enter a whole number."}
        )
    if qty >= Decimal("1e10"):
        raise ValidationError({field_name: "That quantity is too large."})
    return qty


def fmt_qty(value: Decimal) -> str:
    value = Decimal(value).normalize()
    return f"{value:f}"


def add_interval(start: date, value: int, unit: str) -> date:
    """``start`` plus N days or N calendar months (31 Jan + 1 month = 28/29 Feb)."""
    if unit == IntervalUnit.DAYS:
        return start + timedelta(days=value)
    month_index = start.month - 1 + value
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def _move(lot: StockLot, *, kind: str, reason: str, delta: Decimal, actor, **refs) -> StockMovement:
    """Apply ``delta`` to a lot the caller has locked and write its movement."""
    new_quantity = lot.quantity + delta
    if new_quantity < 0:
        raise ValidationError(
            {
                "quantity": f"Only {fmt_qty(lot.quantity)} {lot.item.unit} left in batch {lot.batch_number}."
            }
        )
    if delta:
        lot.quantity = new_quantity
        lot.save(update_fields=["quantity"])
    # Quantity or (for the zero-quantity status rows) status changed: refresh the item totals.
    totals.touch([lot.item_id])
    return StockMovement.objects.create(
        lot=lot,
        item_id=lot.item_id,
        kind=kind,
        reason_code=reason,
        quantity=delta,
        unit_cost=lot.unit_cost,
        actor=actor,
        **refs,
    )


def _lock_lot(lot_id: int) -> StockLot:
    try:
        return (
            StockLot.objects.select_for_update(of=("self",)).select_related("item").get(pk=lot_id)
        )
    except StockLot.DoesNotExist:
        raise ValidationError("That lot no longer exists.") from None


def _lock_location_in_use(location: Location, field_name: str) -> None:
    """Share-lock the location row and refuse a retired one. Retiring takes the row ``FOR
    UPDATE`` and then checks for stock, so a receipt or transfer into the location and its
    retirement can never both succeed: whichever locks second sees the other's outcome."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_active FROM inventory_location WHERE id = %s FOR SHARE", [location.pk]
        )
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise ValidationError({field_name: f"{location} is retired: choose another location."})


def _lot_for_receipt(*, item, location, batch_number, expiry_date, unit_cost) -> StockLot:
    """Find or create (race-free: INSERT ... ON CONFLICT DO NOTHING) the lot and lock it."""
    StockLot.objects.bulk_create(
        [
            StockLot(
                item=item,
                location=location,
                batch_number=batch_number,
                expiry_date=expiry_date,
                unit_cost=unit_cost,
                quantity=Decimal("0"),
            )
        ],
        ignore_conflicts=True,
    )
    lot = (
        StockLot.objects.select_for_update(of=("self",))
        .select_related("item")
        .get(item=item, location=location, batch_number=batch_number)
    )
    if lot.expiry_date != expiry_date:
        shown = lot.expiry_date.strftime("%d %b %Y") if lot.expiry_date else "no expiry"
        raise ValidationError(
            {"expiry_date": f"Batch {batch_number} is already stocked here with expiry {shown}."}
        )
    return lot


# --- Stock --------------------------------------------------------------------------------


@transaction.atomic
def stock_receive(
    *,
    actor,
    item: Item,
    location: Location,
    batch_number: str,
    expiry_date: date | None,
    quantity,
    unit_cost,
    reason_code: str = ReasonCode.PURCHASE,
    po_line: PurchaseOrderLine | None = None,
    note: str = "",
    request=None,
    received_at=None,
) -> StockMovement:
    """Put ``quantity`` of a batch into stock at ``location`` (a new lot, or the same batch's
    lot there). Refuses expired or missing expiry dates for medication, and quarantined lots."""
    qty = clean_quantity(item, quantity)
    batch_number = (batch_number or "").strip()
    if not batch_number:
        raise ValidationError({"batch_number": "Enter the batch or lot number."})
    today = timezone.localdate()
    if expiry_date is None and item.kind == ItemKind.MEDICATION:
        raise ValidationError({"expiry_date": "Medication needs an expiry date."})
    if expiry_date is not None and expiry_date <= today:
        raise ValidationError(
            {"expiry_date": "This batch has already expired; it cannot be received."}
        )
    try:
        cost = Decimal(str(unit_cost))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({"unit_cost": "Enter a cost."}) from None
    if not cost.is_finite() or cost < 0:
        raise ValidationError({"unit_cost": "The unit cost cannot be negative."})
    _lock_location_in_use(location, "location")
    lot = _lot_for_receipt(
        item=item,
        location=location,
        batch_number=batch_number,
        expiry_date=expiry_date,
        unit_cost=cost,
    )
    if lot.status != LotStatus.AVAILABLE:
        raise ValidationError({"batch_number": f"Batch {batch_number} is quarantined here."})
    if lot.quantity > 0 and lot.unit_cost != cost:
        # Weighted average keeps the lot's value right when the same batch arrives twice.
        lot.unit_cost = (
            (lot.quantity * lot.unit_cost + qty * cost) / (lot.quantity + qty)
        ).quantize(Decimal("0.01"))
    else:
        lot.unit_cost = cost
    lot.save(update_fields=["unit_cost"])
    refs = {"purchase_order_line": po_line, "note": note[:300]}
    if received_at is not None:
        refs["created_at"] = received_at
    movement = _move(
        lot, kind=MovementKind.RECEIVE, reason=reason_code, delta=qty, actor=actor, **refs
    )
    audit_record(
        actor=actor,
        action="create",
        obj=movement,
        request=request,
        detail={"receive": fmt_qty(qty), "item": item.pk, "lot": lot.pk},
    )
    return movement


@dataclass
class DispenseResult:
    movements: list[StockMovement] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return -sum((m.quantity for m in self.movements), Decimal("0"))


def dispensable_lots(item: Item, *, location: Location | None = None, today: date | None = None):
    """Lots that may be dispensed, first-expiry-first-out (no expiry last)."""
    today = today or timezone.localdate()
    qs = StockLot.objects.filter(item=item, status=LotStatus.AVAILABLE, quantity__gt=0).filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gte=today)
    )
    if location is not None:
        qs = qs.filter(location=location)
    return qs.order_by(F("expiry_date").asc(nulls_last=True), "received_at", "id")


@transaction.atomic
def stock_dispense(
    *,
    actor,
    item: Item,
    quantity,
    patient=None,
    visit=None,
    prescription=None,
    destination: str = "",
    location: Location | None = None,
    course_days: int | None = None,
    note: str = "",
    request=None,
    occurred_at=None,
) -> DispenseResult:
    """Dispense to a patient (optionally during a visit / for a prescription) or for ward or
    room use, picking lots first-expiry-first-out. Expired and quarantined lots are never
    used. Raises ``ValidationError`` when there is not enough usable stock; nothing changes.
    Warns (in the result) when a lot expires before the course ends."""
    qty = clean_quantity(item, quantity)
    destination = (destination or "").strip()
    if prescription is not None:
        if visit is not None and prescription.visit_id != visit.pk:
            raise ValidationError("That prescription belongs to another visit.")
        visit = prescription.visit
    if visit is not None:
        if patient is not None and visit.patient_id != patient.pk:
            raise ValidationError("That visit belongs to another patient.")
        patient = visit.patient
    if (patient is None) == (not destination):
        raise ValidationError(
            "Dispense either to a patient or for a ward/room, not both or neither."
        )
    if course_days is not None and course_days < 0:
        raise ValidationError({"course_days": "The course length cannot be negative."})
    today = timezone.localdate()
    # FOR UPDATE in FEFO order: concurrent dispensers queue on the same rows in the same
    # order (no deadlock), and the quantity > 0 test is re-checked after each wait.
    lots = list(
        dispensable_lots(item, location=location, today=today)
        .select_for_update(of=("self",))
        .select_related("item")
    )
    available = sum((lot.quantity for lot in lots), Decimal("0"))
    if available < qty:
        where = f" at {location}" if location else ""
        raise ValidationError(
            {
                "quantity": f"Only {fmt_qty(available)} {item.unit} of {item.display_name} can be dispensed{where}."
            }
        )
    result = DispenseResult()
    remaining = qty
    refs = {
        "patient": patient,
        "visit": visit,
        "prescription": prescription,
        "destination": destination[:120],
        "note": note[:300],
    }
    if occurred_at is not None:  # back-filled history (demo data, imports)
        refs["created_at"] = occurred_at
    reason = ReasonCode.PATIENT if patient is not None else ReasonCode.WARD_USE
    course_end = today + timedelta(days=course_days) if course_days else None
    for lot in lots:
        if remaining <= 0:
            break
        take = min(remaining, lot.quantity)
        result.movements.append(
            _move(lot, kind=MovementKind.DISPENSE, reason=reason, delta=-take, actor=actor, **refs)
        )
        remaining -= take
        if course_end and lot.expiry_date and lot.expiry_date < course_end:
            result.warnings.append(
                f"Batch {lot.batch_number} expires on {lot.expiry_date:%a %-d %b %Y}, before the "
                f"{course_days}-day course ends."
            )
    audit_record(
        actor=actor,
        action="create",
        obj=result.movements[0],
        request=request,
        patient_id=patient.pk if patient is not None else None,
        detail={
            "dispense": fmt_qty(qty),
            "item": item.pk,
            "lots": [m.lot_id for m in result.movements],
            "visit": visit.pk if visit is not None else None,
            "destination": destination,
        },
    )
    return result


@transaction.atomic
def stock_adjust(
    *, actor, lot: StockLot, quantity_change, reason_code: str, note: str = "", request=None
) -> StockMovement:
    """Correct a lot by a signed amount with a reason code; never below zero."""
    if reason_code not in ADJUST_REASONS:
        raise ValidationError({"reason_code": "Choose a reason for the adjustment."})
    lot = _lock_lot(lot.pk)
    try:
        delta = Decimal(str(quantity_change).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({"quantity_change": "Enter a number."}) from None
    if not delta.is_finite() or delta == 0:
        raise ValidationError({"quantity_change": "Enter a non-zero change (negative to remove)."})
    clean_quantity(lot.item, abs(delta), field_name="quantity_change")
    if lot.quantity + delta < 0:
        raise ValidationError(
            {"quantity_change": f"Only {fmt_qty(lot.quantity)} {lot.item.unit} in this lot."}
        )
    movement = _move(
        lot, kind=MovementKind.ADJUST, reason=reason_code, delta=delta, actor=actor, note=note[:300]
    )
    audit_record(
        actor=actor,
        action="update",
        obj=movement,
        request=request,
        detail={"adjust": fmt_qty(delta), "reason": reason_code, "lot": lot.pk},
    )
    return movement


@transaction.atomic
def stock_transfer(
    *, actor, lot: StockLot, to_location: Location, quantity, request=None
) -> StockLot:
    """Move part of a lot to another location (same batch there); two movements, one ref."""
    if to_location.pk == lot.location_id:
        raise ValidationError({"to_location": "Choose a different location."})
    qty = clean_quantity(lot.item, quantity)
    _lock_location_in_use(to_location, "to_location")
    StockLot.objects.bulk_create(
        [
            StockLot(
                item_id=lot.item_id,
                location=to_location,
                batch_number=lot.batch_number,
                expiry_date=lot.expiry_date,
                unit_cost=lot.unit_cost,
                status=lot.status,
            )
        ],
        ignore_conflicts=True,
    )
    dest_id = StockLot.objects.get(
        item_id=lot.item_id, location=to_location, batch_number=lot.batch_number
    ).pk
    locked = {
        x.pk: x
        for x in StockLot.objects.select_for_update(of=("self",))
        .select_related("item")
        .filter(pk__in=[lot.pk, dest_id])
        .order_by("id")
    }
    source, dest = locked[lot.pk], locked[dest_id]
    if source.status != LotStatus.AVAILABLE:
        raise ValidationError("A quarantined lot cannot be moved; dispose of it instead.")
    if dest.expiry_date != source.expiry_date:
        raise ValidationError(
            {"to_location": "That location holds this batch with another expiry date."}
        )
    ref = uuid.uuid4()
    out = _move(
        source,
        kind=MovementKind.TRANSFER,
        reason=ReasonCode.TRANSFER,
        delta=-qty,
        actor=actor,
        transfer_ref=ref,
        note=f"to {to_location}",
    )
    _move(
        dest,
        kind=MovementKind.TRANSFER,
        reason=ReasonCode.TRANSFER,
        delta=qty,
        actor=actor,
        transfer_ref=ref,
        note=f"from {source.location}",
    )
    audit_record(
        actor=actor,
        action="update",
        obj=out,
        request=request,
        detail={"transfer": fmt_qty(qty), "from": source.pk, "to": dest.pk},
    )
    return dest


@transaction.atomic
def stock_dispose(
    *, actor, lot: StockLot, reason_code: str, quantity=None, note: str = "", request=None
) -> StockMovement:
    """Write off (all of, by default) a lot: expired, damaged, recalled or returned."""
    if reason_code not in DISPOSE_REASONS:
        raise ValidationError({"reason_code": "Choose why the stock is disposed of."})
    lot = _lock_lot(lot.pk)
    qty = lot.quantity if quantity in (None, "") else clean_quantity(lot.item, quantity)
    if qty <= 0:
        raise ValidationError({"quantity": "This lot is already empty."})
    if qty > lot.quantity:
        raise ValidationError(
            {"quantity": f"Only {fmt_qty(lot.quantity)} {lot.item.unit} in this lot."}
        )
    movement = _move(
        lot, kind=MovementKind.DISPOSE, reason=reason_code, delta=-qty, actor=actor, note=note[:300]
    )
    audit_record(
        actor=actor,
        action="delete",
        obj=movement,
        request=request,
        detail={"dispose": fmt_qty(qty), "reason": reason_code, "lot": lot.pk},
    )
    return movement


@transaction.atomic
def lot_set_status(*, actor, lot: StockLot, status: str, request=None) -> StockLot:
    """Quarantine or release a lot (an expired lot cannot be released). Leaves a zero-quantity
    ledger row so the history shows who did it and when."""
    if status not in LotStatus.values:
        raise ValidationError("Unknown status.")
    lot = _lock_lot(lot.pk)
    if lot.status == status:
        return lot
    if status == LotStatus.AVAILABLE and lot.is_expired:
        raise ValidationError("An expired lot cannot be released.")
    lot.status = status
    lot.save(update_fields=["status"])
    reason = ReasonCode.RELEASE if status == LotStatus.AVAILABLE else ReasonCode.QUARANTINE
    movement = _move(lot, kind=MovementKind.ADJUST, reason=reason, delta=Decimal("0"), actor=actor)
    audit_record(
        actor=actor,
        action="update",
        obj=lot,
        request=request,
        detail={"status": status, "movement": movement.pk},
    )
    return lot


def lots_quarantine_expired(*, today: date | None = None) -> int:
    """Quarantine every available lot past its expiry date; returns how many. Safe to re-run."""
    today = today or timezone.localdate()
    count = 0
    with transaction.atomic(), totals.batch():
        lots = (
            StockLot.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("item")
            .filter(status=LotStatus.AVAILABLE, expiry_date__lt=today)
            .order_by("id")
        )
        for lot in lots:
            lot.status = LotStatus.QUARANTINED
            lot.save(update_fields=["status"])
            _move(
                lot,
                kind=MovementKind.ADJUST,
                reason=ReasonCode.QUARANTINE,
                delta=Decimal("0"),
                actor=None,
                note="expired: quarantined automatically",
            )
            count += 1
    return count


# --- Catalogue ------------------------------------------------------------------------------


@transaction.atomic
def item_save(*, actor, item: Item, request=None) -> Item:
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
        action="create" if creating else "update",
        obj=item,
        request=request,
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
def location_save(*, actor, location: Location, request=None) -> Location:
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
        action="create" if creating else "update",
        obj=location,
        request=request,
        detail={"name": location.name, "code": location.code, "is_active": location.is_active},
    )
    return location


@transaction.atomic
def category_save(*, actor, category: Category, request=None) -> Category:
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
        action="create" if creating else "update",
        obj=category,
        request=request,
        detail={"name": category.name},
    )
    return category


@transaction.atomic
def vendor_save(*, actor, vendor: Vendor, request=None) -> Vendor:
    creating = vendor.pk is None
    vendor.save()
    audit_record(
        actor=actor, action="create" if creating else "update", obj=vendor, request=request
    )
    return vendor


# --- Purchase orders --------------------------------------------------------------------------


def _new_draft(*, vendor: Vendor, actor, auto: bool) -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        number=f"tmp-{uuid.uuid4().hex[:14]}",
        vendor=vendor,
        created_by=actor,
        auto_drafted=auto,
    )
    order.number = f"PO-{order.created_at:%Y}-{order.pk:05d}"
    order.save(update_fields=["number"])
    return order


def _draft_for_vendor(*, vendor: Vendor, actor, auto: bool) -> PurchaseOrder:
    """The vendor's working draft, created if needed (one draft per vendor, race-free)."""
    existing = (
        PurchaseOrder.objects.select_for_update()
        .filter(vendor=vendor, status=POStatus.DRAFT)
        .first()
    )
    if existing:
        return existing
    try:
        with transaction.atomic():
            return _new_draft(vendor=vendor, actor=actor, auto=auto)
    except IntegrityError:
        return PurchaseOrder.objects.select_for_update().get(vendor=vendor, status=POStatus.DRAFT)


@transaction.atomic
def purchase_order_create(*, actor, vendor: Vendor, request=None) -> PurchaseOrder:
    """A new draft for ``vendor`` (or its existing draft: one working draft per vendor)."""
    order = _draft_for_vendor(vendor=vendor, actor=actor, auto=False)
    audit_record(actor=actor, action="create", obj=order, request=request)
    return order


def _lock_order(order: PurchaseOrder) -> PurchaseOrder:
    return (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("vendor")
        .get(pk=order.pk)
    )


@transaction.atomic
def purchase_order_add_line(
    *, actor, order: PurchaseOrder, item: Item, quantity, unit_cost=None, request=None
) -> PurchaseOrderLine:
    """Add ``quantity`` of ``item`` to a draft (adds to an existing line for the item)."""
    order = _lock_order(order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("Only a draft order can be changed.")
    qty = clean_quantity(item, quantity)
    if unit_cost in (None, ""):
        unit_cost = (
            StockLot.objects.filter(item=item)
            .order_by("-received_at")
            .values_list("unit_cost", flat=True)
            .first()
            or 0
        )
    cost = Decimal(str(unit_cost))
    if cost < 0:
        raise ValidationError({"unit_cost": "The unit cost cannot be negative."})
    line, created = PurchaseOrderLine.objects.get_or_create(
        order=order, item=item, defaults={"quantity_ordered": qty, "unit_cost": cost}
    )
    if not created:
        line.quantity_ordered += qty
        line.unit_cost = cost
        line.save(update_fields=["quantity_ordered", "unit_cost"])
    audit_record(
        actor=actor,
        action="update",
        obj=order,
        request=request,
        detail={"line_item": item.pk, "quantity": fmt_qty(qty)},
    )
    return line


@transaction.atomic
def purchase_order_remove_line(*, actor, line: PurchaseOrderLine, request=None) -> None:
    order = _lock_order(line.order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("Only a draft order can be changed.")
    PurchaseOrderLine.objects.filter(pk=line.pk).delete()
    audit_record(
        actor=actor,
        action="update",
        obj=order,
        request=request,
        detail={"removed_item": line.item_id},
    )


def on_order_by_item(item_ids=None) -> dict[int, Decimal]:
    """Outstanding quantity on sent / partially received orders, per item."""
    from inventory.selectors import on_order_map

    return on_order_map(item_ids)


@transaction.atomic
def purchase_orders_draft_for_low_stock(
    *, actor=None, items: list[Item] | None = None, request=None
) -> list[PurchaseOrder]:
    """Add every low-stock item (or just ``items``) to its preferred vendor's draft order,
    for its reorder quantity minus what is already on order. Items already on a draft, with
    no preferred vendor, or fully covered by open orders are skipped. Serialised by an
    advisory lock, so two runs never double an order."""
    from inventory.selectors import low_stock_items

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REORDER_LOCK_KEY])
    if items is None:
        candidates = list(low_stock_items().select_related("preferred_vendor"))
    else:
        candidates = list(
            Item.objects.filter(pk__in=[i.pk for i in items]).select_related("preferred_vendor")
        )
    on_draft = set(
        PurchaseOrderLine.objects.filter(
            order__status=POStatus.DRAFT, item__in=candidates
        ).values_list("item_id", flat=True)
    )
    on_order = on_order_by_item([i.pk for i in candidates])
    touched: dict[int, PurchaseOrder] = {}
    for item in candidates:
        if (
            item.pk in on_draft
            or item.preferred_vendor is None
            or not item.preferred_vendor.is_active
        ):
            continue
        qty = item.reorder_quantity - on_order.get(item.pk, Decimal("0"))
        if not item.allows_fractions:
            qty = qty.to_integral_value(rounding=ROUND_CEILING)
        if qty <= 0:
            continue
        order = _draft_for_vendor(vendor=item.preferred_vendor, actor=actor, auto=actor is None)
        last_cost = (
            StockLot.objects.filter(item=item)
            .order_by("-received_at")
            .values_list("unit_cost", flat=True)
            .first()
        )
        PurchaseOrderLine.objects.create(
            order=order, item=item, quantity_ordered=qty, unit_cost=last_cost or 0
        )
        touched[order.pk] = order
    for order in touched.values():
        audit_record(
            actor=actor,
            action="update",
            obj=order,
            request=request,
            detail={"drafted": "low stock"},
        )
    return list(touched.values())


@transaction.atomic
def purchase_order_send(*, actor, order: PurchaseOrder, request=None) -> PurchaseOrder:
    """Draft → sent; the PDF is emailed to the vendor after commit (exactly once)."""
    from inventory.tasks import email_purchase_order

    order = _lock_order(order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("This order has already been sent or closed.")
    if not order.lines.exists():
        raise ValidationError("Add at least one line before sending.")
    if not order.vendor.email:
        raise ValidationError(f"{order.vendor} has no email address; add one to the vendor first.")
    order.status = POStatus.SENT
    order.sent_at = timezone.now()
    order.expected_on = timezone.localdate() + timedelta(days=order.vendor.lead_time_days)
    order.save(update_fields=["status", "sent_at", "expected_on"])
    totals.touch(order.lines.values_list("item_id", flat=True))
    audit_record(
        actor=actor, action="update", obj=order, request=request, detail={"status": "sent"}
    )
    transaction.on_commit(lambda: email_purchase_order.delay(order_id=order.pk))
    return order


def purchase_order_email(*, order_id: int) -> bool:
    """Email a sent order's PDF to its vendor; claimed first so it goes out once. On a
    backend error the claim is released and the error re-raised (the task retries)."""
    from inventory.pdf import purchase_order_pdf
    from uscpis.mail import send_templated_email

    claimed = PurchaseOrder.objects.filter(
        pk=order_id,
        emailed_at__isnull=True,
        status__in=[POStatus.SENT, POStatus.PARTIAL, POStatus.RECEIVED],
    ).update(emailed_at=timezone.now())
    if not claimed:
        return False
    order = PurchaseOrder.objects.select_related("vendor").get(pk=order_id)
    try:
        send_templated_email(
            to=[order.vendor.email],
            subject=f"Purchase order {order.number}",
            template="inventory_purchase_order",
            context={"order": order, "lines": list(order.lines.select_related("item"))},
            attachments=[(f"{order.number}.pdf", purchase_order_pdf(order), "application/pdf")],
        )
    except Exception:
        PurchaseOrder.objects.filter(pk=order_id).update(emailed_at=None)
        raise
    return True


@transaction.atomic
def purchase_order_cancel(*, actor, order: PurchaseOrder, request=None) -> PurchaseOrder:
    order = _lock_order(order)
    if order.status in (POStatus.RECEIVED, POStatus.CANCELLED):
        raise ValidationError("This order is already closed.")
    order.status = POStatus.CANCELLED
    order.closed_at = timezone.now()
    order.save(update_fields=["status", "closed_at"])
    totals.touch(order.lines.values_list("item_id", flat=True))
    audit_record(
        actor=actor, action="update", obj=order, request=request, detail={"status": "cancelled"}
    )
    return order


@dataclass
class Receipt:
    line_id: int
    quantity: Decimal
    batch_number: str
    expiry_date: date | None
    unit_cost: Decimal | None
    location: Location


@transaction.atomic
def purchase_order_receive(
    *,
    actor,
    order: PurchaseOrder,
    receipts: list[Receipt],
    confirm_over: bool = False,
    request=None,
) -> PurchaseOrder:
    """Receive goods against a sent order: each receipt becomes a lot (or tops up the batch)
    with a receive movement. More than ordered needs ``confirm_over``. All or nothing."""
    order = _lock_order(order)
    if order.status not in (POStatus.SENT, POStatus.PARTIAL):
        raise ValidationError("Only a sent order can be received.")
    if not receipts:
        raise ValidationError("Enter at least one quantity received.")
    lines = {
        line.pk: line for line in order.lines.select_for_update(of=("self",)).select_related("item")
    }
    errors: dict[str, list[str]] = {}
    for receipt in receipts:
        line = lines.get(receipt.line_id)
        if line is None:
            raise ValidationError("That line is not on this order.")
        qty = clean_quantity(line.item, receipt.quantity)
        if line.quantity_received + qty > line.quantity_ordered and not confirm_over:
            errors.setdefault("__all__", []).append(
                f"{line.item.display_name}: receiving {fmt_qty(qty)} would exceed the "
                f"{fmt_qty(line.outstanding)} still outstanding. Tick “confirm over-receipt” to accept it."
            )
    if errors:
        raise ValidationError(errors)
    with totals.batch():  # several items: lock and recompute them once, in id order
        for receipt in receipts:
            line = lines[receipt.line_id]
            stock_receive(
                actor=actor,
                item=line.item,
                location=receipt.location,
                batch_number=receipt.batch_number,
                expiry_date=receipt.expiry_date,
                quantity=receipt.quantity,
                unit_cost=line.unit_cost if receipt.unit_cost is None else receipt.unit_cost,
                po_line=line,
                note=order.number,
                request=request,
            )
            line.quantity_received += Decimal(str(receipt.quantity))
            line.save(update_fields=["quantity_received"])
        complete = all(line.quantity_received >= line.quantity_ordered for line in lines.values())
        order.status = POStatus.RECEIVED if complete else POStatus.PARTIAL
        order.closed_at = timezone.now() if complete else None
        order.save(update_fields=["status", "closed_at"])
        totals.touch(line.item_id for line in lines.values())
    audit_record(
        actor=actor, action="update", obj=order, request=request, detail={"status": order.status}
    )
    return order


# --- Equipment ------------------------------------------------------------------------------


@transaction.atomic
def equipment_save(*, actor, equipment: Equipment, request=None) -> Equipment:
    creating = equipment.pk is None
    if (
        equipment.purchase_date
        and equipment.warranty_end
        and equipment.warranty_end < equipment.purchase_date
    ):
        raise ValidationError({"warranty_end": "The warranty cannot end before the purchase date."})
    equipment.save()
    audit_record(
        actor=actor, action="create" if creating else "update", obj=equipment, request=request
    )
    return equipment


@transaction.atomic
def schedule_save(*, actor, schedule: MaintenanceSchedule, request=None) -> MaintenanceSchedule:
    """Create or change a maintenance/calibration schedule (next due defaults from the last
    service, or from today)."""
    if schedule.interval_value < 1:
        raise ValidationError({"interval_value": "The interval must be at least 1."})
    if schedule.next_due_on is None:
        start = schedule.last_done_on or timezone.localdate()
        schedule.next_due_on = add_interval(start, schedule.interval_value, schedule.interval_unit)
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError:
        raise ValidationError(
            {"kind": "This equipment already has a schedule of that kind."}
        ) from None
    audit_record(actor=actor, action="update", obj=schedule, request=request)
    return schedule


@transaction.atomic
def maintenance_record(
    *,
    actor,
    equipment: Equipment,
    kind: str,
    performed_on: date,
    work_done: str,
    result: str,
    technician: str = "",
    request=None,
) -> MaintenanceLog:
    """Log maintenance or calibration; the matching schedule's next due date moves on from
    ``performed_on``. A date in the future is refused."""
    if performed_on > timezone.localdate():
        raise ValidationError({"performed_on": "The date cannot be in the future."})
    if not (work_done or "").strip():
        raise ValidationError({"work_done": "Describe what was done."})
    schedule = (
        MaintenanceSchedule.objects.select_for_update()
        .filter(equipment=equipment, kind=kind)
        .first()
    )
    log = MaintenanceLog.objects.create(
        equipment=equipment,
        schedule=schedule,
        kind=kind,
        performed_on=performed_on,
        performed_by=actor,
        technician=technician,
        work_done=work_done.strip(),
        result=result,
    )
    if schedule is not None and (
        schedule.last_done_on is None or performed_on >= schedule.last_done_on
    ):
        schedule.last_done_on = performed_on
        schedule.next_due_on = add_interval(
            performed_on, schedule.interval_value, schedule.interval_unit
        )
        schedule.save(update_fields=["last_done_on", "next_due_on"])
    audit_record(
        actor=actor,
        action="create",
        obj=log,
        request=request,
        detail={"kind": kind, "result": result},
    )
    return log


# --- Stocktake ------------------------------------------------------------------------------


@transaction.atomic
def stocktake_start(*, actor, location: Location, request=None) -> Stocktake:
    """A count sheet listing every lot with stock at ``location`` (one open sheet per place)."""
    try:
        with transaction.atomic():
            stocktake = Stocktake.objects.create(location=location, created_by=actor)
    except IntegrityError:
        raise ValidationError(f"A count is already open for {location}.") from None
    lots = StockLot.objects.filter(location=location, quantity__gt=0).order_by(
        "item__name", "expiry_date", "id"
    )
    StocktakeLine.objects.bulk_create(
        StocktakeLine(stocktake=stocktake, lot=lot, expected_quantity=lot.quantity) for lot in lots
    )
    audit_record(actor=actor, action="create", obj=stocktake, request=request)
    return stocktake


@transaction.atomic
def stocktake_record_counts(
    *, actor, stocktake: Stocktake, counts: dict[int, tuple[str, str]], request=None
) -> Stocktake:
    """Save counted quantities (and reasons) by line id; blank leaves a line uncounted."""
    stocktake = Stocktake.objects.select_for_update().get(pk=stocktake.pk)
    if stocktake.status != StocktakeStatus.OPEN:
        raise ValidationError("This count has already been posted.")
    lines = {line.pk: line for line in stocktake.lines.select_related("lot__item")}
    errors = {}
    for line_id, (raw, reason) in counts.items():
        line = lines.get(line_id)
        if line is None:
            continue
        if raw in (None, ""):
            line.counted_quantity = None
        else:
            try:
                line.counted_quantity = clean_quantity(line.lot.item, raw, allow_zero=True)
            except ValidationError as exc:
                errors[f"count_{line_id}"] = exc.messages
                continue
        if reason and reason not in STOCKTAKE_REASONS:
            errors[f"reason_{line_id}"] = ["Unknown reason."]
            continue
        line.reason_code = reason or ""
        line.save(update_fields=["counted_quantity", "reason_code"])
    if errors:
        raise ValidationError(errors)
    return stocktake


@transaction.atomic
def stocktake_post(*, actor, stocktake: Stocktake, request=None) -> Stocktake:
    """Make every counted lot hold what was counted; lots left uncounted are untouched.

    A count states what is on the shelf now (stock dispensed, received or moved while the
    sheet was open is already in the lot), so each counted lot is locked, in id order, and
    gets one stocktake movement of counted minus its current quantity, with the line's
    reason, only when that is not zero. The result is the counted quantity, never below
    zero. Refused, with nothing posted, when the count was already posted or a difference
    has no reason."""
    claimed = Stocktake.objects.filter(pk=stocktake.pk, status=StocktakeStatus.OPEN).update(
        status=StocktakeStatus.POSTED, posted_by=actor, posted_at=timezone.now()
    )
    if not claimed:
        raise ValidationError("This count has already been posted.")
    lines = list(stocktake.lines.filter(counted_quantity__isnull=False).order_by("lot_id"))
    locked = {
        lot.pk: lot
        for lot in StockLot.objects.select_for_update(of=("self",))
        .select_related("item")
        .filter(pk__in=[line.lot_id for line in lines])
        .order_by("id")
    }
    for line in lines:
        line.lot = locked[line.lot_id]  # the variance is taken against the locked quantity
    moved = sum(line.moved_since_start for line in lines)
    missing = [line for line in lines if line.variance and not line.reason_code]
    if missing:
        raise ValidationError(
            "Give a reason for every difference: "
            + ", ".join(f"{x.lot.item.display_name} batch {x.lot.batch_number}" for x in missing)
        )
    posted = 0
    with totals.batch():  # lots locked above in id order, then their items once, in id order
        for line in lines:
            if not line.variance:
                continue
            _move(
                line.lot,
                kind=MovementKind.STOCKTAKE,
                reason=line.reason_code,
                delta=line.variance,
                actor=actor,
                stocktake=stocktake,
            )
            posted += 1
    stocktake.refresh_from_db()
    audit_record(
        actor=actor,
        action="update",
        obj=stocktake,
        request=request,
        detail={
            "variances_posted": posted,
            "lots_moved_during_count": moved,
        },
    )
    return stocktake
