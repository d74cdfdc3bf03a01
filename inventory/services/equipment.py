"""Equipment and its maintenance schedules and logs."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory.models import (
    Equipment,
    MaintenanceLog,
    MaintenanceSchedule,
)
from inventory.quantities import add_interval


@transaction.atomic
def equipment_save(*, actor: User | None, equipment: Equipment) -> Equipment:
    creating = equipment.pk is None
    if (
        equipment.purchase_date
        and equipment.warranty_end
        and equipment.warranty_end < equipment.purchase_date
    ):
        raise ValidationError({"warranty_end": "The warranty cannot end before the purchase date."})
    equipment.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=equipment,
    )
    return equipment


@transaction.atomic
def schedule_save(*, actor: User | None, schedule: MaintenanceSchedule) -> MaintenanceSchedule:
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
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=schedule)
    return schedule


@transaction.atomic
def maintenance_record(
    *,
    actor: User | None,
    equipment: Equipment,
    kind: str,
    performed_on: date,
    work_done: str,
    result: str,
    technician: str = "",
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
        action=AuditAction.CREATE,
        obj=log,
        detail={"kind": kind, "result": result},
    )
    return log
