"""Stock movements: receiving, adjusting, transferring and disposing of lots, lot status
and the nightly quarantine of expired lots. Every change locks the lot row and writes its
immutable movement in the same transaction."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory import totals
from inventory.models import (
    ADJUST_REASONS,
    DISPOSE_REASONS,
    Item,
    ItemKind,
    Location,
    LotStatus,
    MovementKind,
    PurchaseOrderLine,
    ReasonCode,
    StockLot,
    StockMovement,
)
from inventory.quantities import clean_quantity, fmt_qty


def _move(
    lot: StockLot, *, kind: str, reason: str, delta: Decimal, actor: User | None, **refs
) -> StockMovement:
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


@transaction.atomic
def stock_receive(
    *,
    actor: User | None,
    item: Item,
    location: Location,
    batch_number: str,
    expiry_date: date | None,
    quantity,
    unit_cost,
    reason_code: str = ReasonCode.PURCHASE,
    po_line: PurchaseOrderLine | None = None,
    note: str = "",
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
        action=AuditAction.CREATE,
        obj=movement,
        detail={"receive": fmt_qty(qty), "item": item.pk, "lot": lot.pk},
    )
    return movement


@transaction.atomic
def stock_adjust(
    *, actor: User | None, lot: StockLot, quantity_change, reason_code: str, note: str = ""
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
        action=AuditAction.UPDATE,
        obj=movement,
        detail={"adjust": fmt_qty(delta), "reason": reason_code, "lot": lot.pk},
    )
    return movement


@transaction.atomic
def stock_transfer(
    *, actor: User | None, lot: StockLot, to_location: Location, quantity
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
        action=AuditAction.UPDATE,
        obj=out,
        detail={"transfer": fmt_qty(qty), "from": source.pk, "to": dest.pk},
    )
    return dest


@transaction.atomic
def stock_dispose(
    *, actor: User | None, lot: StockLot, reason_code: str, quantity=None, note: str = ""
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
        action=AuditAction.DELETE,
        obj=movement,
        detail={"dispose": fmt_qty(qty), "reason": reason_code, "lot": lot.pk},
    )
    return movement


@transaction.atomic
def lot_set_status(*, actor: User | None, lot: StockLot, status: str) -> StockLot:
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
        action=AuditAction.UPDATE,
        obj=lot,
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
