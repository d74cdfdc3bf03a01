"""Appointment emails: confirmation, reschedule, cancellation and reminders, with an .ics file."""

from __future__ import annotations

from django.utils import timezone

from appointments import conf
from appointments.ical import appointment_ics
from appointments.models import Appointment, AppointmentStatus
from appointments.services.links import link_url
from uscpis.mail import send_templated_email

SUBJECTS = {
    "booked": "Appointment booked: {type} on {when}",
    "rescheduled": "Appointment moved: {type} now on {when}",
    "cancelled": "Appointment cancelled: {type} on {when}",
    "reminder": "Reminder: {type} on {when}",
}


def send_appointment_email(appointment: Appointment, kind: str) -> int:
    """Email the patient about ``appointment``; returns 0 when they have no email address.

    Raises whatever the backend raises (the calling task retries).
    """

    patient = appointment.patient
    to = patient.user.email if patient.user_id and patient.user.email else patient.email
    if not to:
        return 0
    when = timezone.localtime(appointment.start, conf.clinic_tz())
    subject = SUBJECTS[kind].format(
        type=appointment.appointment_type.name, when=when.strftime("%a %-d %b %Y, %-I:%M %p")
    )
    upcoming = appointment.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
    context = {
        "appointment": appointment,
        "kind": kind,
        "when": when,
        "patient": patient,
        "confirm_url": link_url(appointment, "confirm")
        if upcoming and appointment.status == AppointmentStatus.BOOKED
        else "",
        "cancel_url": link_url(appointment, "cancel") if upcoming else "",
    }
    return send_templated_email(
        to=[to],
        subject=subject,
        template="appointments_notice",
        context=context,
        attachments=[
            (f"appointment-{appointment.pk}.ics", appointment_ics(appointment), "text/calendar")
        ],
    )
