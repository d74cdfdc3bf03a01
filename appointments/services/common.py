"""What the appointment services share: history rows, patient notifications and emails
after commit, and the waitlist nudge when a slot frees up."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from accounts.models import User
from accounts.roles import user_has_perm
from accounts.services import notify
from appointments import conf
from appointments.models import (
    Appointment,
    AppointmentEvent,
)


def _is_staff(actor: User | None) -> bool:
    return actor is not None and user_has_perm(actor, "appointments.book_for_patient")


def _record(
    appointment: Appointment, *, actor: User | None, from_status: str, note: str = "", detail=None
) -> None:
    AppointmentEvent.objects.create(
        appointment=appointment,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        from_status=from_status,
        to_status=appointment.status,
        note=note[:300],
        detail=detail or {},
    )


def _after_commit_email(appointment: Appointment, kind: str) -> None:
    """Queue the patient's email through the outbox (written in this transaction)."""
    outbox.enqueue(
        "appointments.tasks.send_appointment_email",
        claim=True,
        appointment_id=appointment.pk,
        kind=kind,
    )


def _notify_patient(appointment: Appointment, title: str, body: str = "") -> None:
    user = appointment.patient.user
    if user is None or not user.is_active:
        return

    # The confirmation email (with its .ics) is sent separately; this is the in-app copy.
    notify(
        user=user,
        title=title,
        body=body,
        url=reverse("appointments:my_detail", args=[appointment.pk]),
        category="appointments",
        email=False,
    )


def _when(dt: datetime) -> str:
    return timezone.localtime(dt, conf.clinic_tz()).strftime("%a %-d %b %Y, %-I:%M %p")


def _after_commit_slot_freed(provider_id: int, start: datetime, end: datetime) -> None:
    if start <= timezone.now():
        return
    outbox.enqueue(
        "appointments.tasks.offer_freed_slot", provider_id=provider_id, start=start.isoformat()
    )
