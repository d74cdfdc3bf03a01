"""An appointment's day: arrival, consultation (opening the visit), completion and no-shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from appointments import conf
from appointments.models import (
    TRANSITIONS,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentStatus,
)
from appointments.services.booking import _lock, appointment_cancel
from appointments.services.common import _record
from appointments.signals import appointment_completed, appointment_no_show
from patients.services.visits import visit_start


def _open_visit(appointment: Appointment, actor: User | None) -> None:
    """Open (or find) the clinical visit for a completed appointment and link it.

    The visit belongs to the appointment's provider, whoever marks it completed (the front
    desk often does); none is opened when the provider's role doesn't write that kind of
    visit (e.g. a nurse's appointment of a dental type).
    """

    try:
        visit = visit_start(
            actor=actor,
            patient=appointment.patient,
            kind=appointment.appointment_type.visit_kind,
            appointment_ref=f"appointment:{appointment.pk}",
            provider=appointment.provider.user,
        )
    except PermissionDenied:
        return
    appointment.visit = visit
    appointment.visit_ref = str(visit.pk)


def appointment_transition(
    *, actor: User | None, appointment: Appointment, to_status: str, note: str = ""
) -> Appointment:
    """Move an appointment along its lifecycle (confirm, check in, start, complete, no-show).

    Refuses moves the lifecycle doesn't allow. Completing opens the linked visit record.
    Cancellation goes through ``appointment_cancel``.
    """
    if to_status == AppointmentStatus.CANCELLED:
        return appointment_cancel(actor=actor, appointment=appointment, reason=note)
    with transaction.atomic():
        locked = _lock(appointment)
        if to_status not in TRANSITIONS.get(locked.status, ()):
            raise ValidationError(
                f"A {locked.get_status_display().lower()} appointment can't be marked "
                f"{AppointmentStatus(to_status).label.lower() if to_status in AppointmentStatus.values else to_status}."
            )
        now = timezone.now()
        if to_status == AppointmentStatus.NO_SHOW and locked.start > now:
            raise ValidationError("An appointment can't be a no-show before it starts.")
        before = locked.status
        locked.status = to_status
        if to_status == AppointmentStatus.CHECKED_IN:
            locked.checked_in_at = now
        elif to_status == AppointmentStatus.IN_CONSULTATION:
            locked.consultation_started_at = now
        elif to_status == AppointmentStatus.COMPLETED:
            locked.completed_at = now
            if locked.consultation_started_at is None:
                locked.consultation_started_at = now
            _open_visit(locked, actor)
        if to_status in (AppointmentStatus.NO_SHOW,):
            locked.sequence += 1
        locked.save()
        _record(locked, actor=actor, from_status=before, note=note)
        if to_status in (AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW):
            event = (
                appointment_completed
                if to_status == AppointmentStatus.COMPLETED
                else appointment_no_show
            )
            event.send(sender=Appointment, appointment=locked)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=locked,
            patient_id=locked.patient_id,
            detail={"status": {"from": before, "to": to_status}},
        )
    return locked


def appointments_mark_no_shows(*, now: datetime | None = None) -> int:
    """Mark booked/confirmed appointments not checked in ``grace`` minutes after their start
    as no-shows (system actor). Safe to run any number of times."""
    now = now or timezone.now()
    grace = timedelta(minutes=conf.get("APPOINTMENT_NO_SHOW_GRACE_MINUTES"))
    ids = list(
        Appointment.objects.filter(
            status__in=UPCOMING_STATUSES, start__lt=now - grace, start__gte=now - timedelta(days=30)
        ).values_list("pk", flat=True)[:500]
    )
    marked = 0
    for pk in ids:
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update()
                .filter(pk=pk, status__in=UPCOMING_STATUSES)
                .first()
            )
            if appt is None:
                continue
            before = appt.status
            appt.status = AppointmentStatus.NO_SHOW
            appt.sequence += 1
            appt.save(update_fields=["status", "sequence", "updated_at"])
            appointment_no_show.send(sender=Appointment, appointment=appt)
            _record(
                appt,
                actor=None,
                from_status=before,
                note=f"Not checked in {grace.seconds // 60} min after start",
            )
            audit_record(
                action=AuditAction.UPDATE,
                obj=appt,
                patient_id=appt.patient_id,
                actor_email="system:no-show",
                detail={"status": {"from": before, "to": "no_show"}},
            )
            marked += 1
    return marked
