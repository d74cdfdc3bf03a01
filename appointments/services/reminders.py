"""Appointment reminders: each (appointment, offset) claimed once before it is sent."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from appointments.emails import send_appointment_email
from appointments.models import (
    Appointment,
    ReminderClaim,
)
from appointments.selectors import STALE_CLAIM, _minutes, _reminder_offsets, reminder_offset_due
from appointments.services.common import _notify_patient, _when


def _claim_reminder(appointment_id: int, offset: int, now: datetime) -> bool:
    try:
        with transaction.atomic():
            ReminderClaim.objects.create(
                appointment_id=appointment_id, offset_minutes=offset, claimed_at=now
            )
        return True
    except IntegrityError:
        # Already claimed. Take over only a claim whose worker died before sending.
        return bool(
            ReminderClaim.objects.filter(
                appointment_id=appointment_id,
                offset_minutes=offset,
                sent_at__isnull=True,
                skipped_at__isnull=True,
                claimed_at__lt=now - STALE_CLAIM,
            ).update(claimed_at=now)
        )


def _skip_superseded_reminders(appointment: Appointment, *, nearest: int, now: datetime) -> None:
    """Record the applicable offsets larger than ``nearest`` as skipped: they never go out."""
    notice = appointment.start - appointment.scheduled_at
    larger = [x for x in _reminder_offsets() if x > nearest and _minutes(x) < notice]
    if not larger:
        return
    ReminderClaim.objects.bulk_create(
        [
            ReminderClaim(
                appointment_id=appointment.pk, offset_minutes=x, claimed_at=now, skipped_at=now
            )
            for x in larger
        ],
        ignore_conflicts=True,
    )
    # A fresh unsent claim may be mid-send by another worker: leave it to that worker.
    ReminderClaim.objects.filter(
        appointment_id=appointment.pk,
        offset_minutes__in=larger,
        sent_at__isnull=True,
        skipped_at__isnull=True,
        claimed_at__lt=now - STALE_CLAIM,
    ).update(skipped_at=now)


def reminder_send(*, appointment_id: int, offset_minutes: int, now: datetime | None = None) -> bool:
    """Send one reminder exactly once; returns False when there is nothing (more) to send.

    Only the offset ``reminder_offset_due`` picks is sent: an offset superseded by a nearer one
    is recorded as skipped instead, and one that doesn't apply (booked too close to the start)
    or isn't due yet sends nothing. The (appointment, offset) row is claimed before sending, so
    a second beat or a duplicate delivery sends nothing. If the backend raises, the claim is
    released and the error re-raised so the task's retry can send it. A claim whose worker died
    mid-way is taken over after ``STALE_CLAIM`` (``reminders_due`` lists it again).
    """
    now = now or timezone.now()
    appointment = Appointment.objects.with_related().filter(pk=appointment_id).first()
    if appointment is None:
        return False
    nearest = reminder_offset_due(appointment, now=now)
    if nearest is None or offset_minutes < nearest:
        return False
    if offset_minutes > nearest:
        _skip_superseded_reminders(appointment, nearest=nearest, now=now)
        return False
    if not _claim_reminder(appointment_id, offset_minutes, now):
        return False
    try:
        send_appointment_email(appointment, "reminder")
    except Exception:
        ReminderClaim.objects.filter(
            appointment_id=appointment_id, offset_minutes=offset_minutes, sent_at__isnull=True
        ).delete()
        raise
    with transaction.atomic():
        ReminderClaim.objects.filter(
            appointment_id=appointment_id, offset_minutes=offset_minutes
        ).update(sent_at=timezone.now())
        _skip_superseded_reminders(appointment, nearest=offset_minutes, now=now)
    _notify_patient(
        appointment,
        f"Reminder: {appointment.appointment_type.name}",
        f"{_when(appointment.start)} with {appointment.provider.display_name}.",
    )
    return True
