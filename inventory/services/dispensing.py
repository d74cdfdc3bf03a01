"""Dispensing: first-expiry-first-out across a location's lots, with the movement linked to
the visit and prescription it fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory.models import (
    Item,
    Location,
    MovementKind,
    ReasonCode,
    StockMovement,
)
from inventory.quantities import clean_quantity, fmt_qty
from inventory.selectors import dispensable_lots
from inventory.services.stock import _lock_lot, _move
from inventory.signals import dispensing_reversed, stock_dispensed


@dataclass
class DispenseResult:
    movements: list[StockMovement] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return -sum((m.quantity for m in self.movements), Decimal("0"))


@transaction.atomic
def stock_dispense(
    *,
    actor: User | None,
    item: Item,
    quantity,
    patient=None,
    visit=None,
    prescription=None,
    destination: str = "",
    location: Location | None = None,
    course_days: int | None = None,
    note: str = "",
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
        action=AuditAction.CREATE,
        obj=result.movements[0],
        patient_id=patient.pk if patient is not None else None,
        detail={
            "dispense": fmt_qty(qty),
            "item": item.pk,
            "lots": [m.lot_id for m in result.movements],
            "visit": visit.pk if visit is not None else None,
            "destination": destination,
        },
    )
    if patient is not None:
        stock_dispensed.send(sender=StockMovement, movements=result.movements)
    return result


def cancel_marker(movement_id: int) -> str:
    """How a cancelling adjustment's note starts (the colon keeps #12 apart from #123)."""
    return f"Cancels dispensing #{movement_id}:"


@transaction.atomic
def stock_dispense_cancel(
    *, actor: User | None, movement: StockMovement, reason: str
) -> StockMovement:
    """Cancel a dispensing to a patient (entered in error, or the stock came back unused):
    the quantity goes back to its lot through a correcting movement (the ledger keeps both
    rows) and downstream apps are told (billing reverses the charge). A dispensing is
    cancelled once; raises ``ValidationError`` otherwise."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for cancelling the dispensing."})
    if movement.kind != MovementKind.DISPENSE or movement.patient_id is None:
        raise ValidationError("Only a dispensing to a patient can be cancelled here.")
    lot = _lock_lot(movement.lot_id)
    marker = cancel_marker(movement.pk)
    if StockMovement.objects.filter(
        lot=lot, kind=MovementKind.ADJUST, note__startswith=marker
    ).exists():
        raise ValidationError("This dispensing was already cancelled.")
    correction = _move(
        lot,
        kind=MovementKind.ADJUST,
        reason=ReasonCode.DATA_ENTRY,
        delta=-movement.quantity,
        actor=actor,
        patient_id=movement.patient_id,
        visit_id=movement.visit_id,
        prescription_id=movement.prescription_id,
        note=f"{marker} {reason}"[:300],
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=correction,
        patient_id=movement.patient_id,
        detail={"cancels_dispense": movement.pk, "reason": reason},
    )
    dispensing_reversed.send(sender=StockMovement, movement=movement, reason=reason)
    return correction
