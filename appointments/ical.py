"""iCalendar (RFC 5545) for appointments: single-event files and subscription feeds.

Each appointment is one VEVENT with a stable UID and a SEQUENCE that increases on every
change, so calendar apps update (or, with STATUS:CANCELLED, strike out) the event they
already have.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from django.conf import settings
from django.urls import reverse
from icalendar import Calendar, Event, vText

from appointments.models import Appointment, AppointmentStatus

PRODID = "-//University of San Carlos//USC-PIS Appointments//EN"


def uid_for(appointment: Appointment) -> str:
    host = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "usc-pis"
    return f"appointment-{appointment.pk}@{host}"


def _event(appointment: Appointment, *, audience: str) -> Event:
    event = Event()
    event.add("uid", uid_for(appointment))
    event.add("dtstamp", appointment.updated_at.astimezone(UTC))
    event.add("dtstart", appointment.start.astimezone(UTC))
    event.add("dtend", appointment.end.astimezone(UTC))
    event.add("sequence", appointment.sequence)
    type_name = appointment.appointment_type.name
    provider = appointment.provider
    if audience == "provider":
        patient = appointment.patient
        # Initials only: feeds end up in third-party calendar apps.
        summary = (
            f"{type_name}: {patient.first_name[:1]}. {patient.last_name[:1]}. ({patient.id_number})"
        )
    else:
        summary = f"{type_name} with {provider.display_name}"
    event.add("summary", vText(summary))
    where = ", ".join(x for x in [provider.room, provider.location, settings.CLINIC_NAME] if x)
    event.add("location", vText(where))
    link = settings.SITE_URL + (
        reverse("appointments:staff_detail", args=[appointment.pk])
        if audience == "provider"
        else reverse("appointments:my_detail", args=[appointment.pk])
    )
    event.add("url", link)
    event.add("description", vText(f"{type_name} at {settings.CLINIC_NAME}. Details: {link}"))
    cancelled = appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    return event


def _calendar(name: str, method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", settings.TIME_ZONE)
    return cal


def appointment_ics(appointment: Appointment, *, audience: str = "patient") -> bytes:
    """One appointment as a ``.ics`` file (METHOD:PUBLISH; CANCEL when it was cancelled)."""
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    cal = _calendar(f"{settings.CLINIC_NAME} appointment", "CANCEL" if cancelled else "PUBLISH")
    cal.add_component(_event(appointment, audience=audience))
    return cal.to_ical()


def feed_ics(appointments: Iterable[Appointment], *, name: str, audience: str) -> bytes:
    cal = _calendar(name, "PUBLISH")
    cal.add("x-published-ttl", "PT1H")
    for appointment in appointments:
        cal.add_component(_event(appointment, audience=audience))
    return cal.to_ical()
