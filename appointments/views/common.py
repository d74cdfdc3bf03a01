"""Helpers shared by the appointment views."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone

from appointments import forms, picker
from appointments.ical import appointment_ics
from appointments.models import (
    Appointment,
    AppointmentStatus,
)
from appointments.services import booking
from appointments.slots import SlotTaken
from uscpis.csvexport import csv_download
from uscpis.dates import parse_day
from uscpis.http import render_page

PAGE_SIZE = 25


ACTIVE_NOT_DONE = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_CONSULTATION,
)


def _errors(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _picker_context(
    picked: picker.Picked, *, patient_id=None, staff=False, exclude_id=None
) -> dict:
    ctx = {"picked": picked, "week": None, "chosen_type": picked.appointment_type}
    if picked.appointment_type is not None:
        first = picked.first
        ctx.update(
            week=picker.slot_week(
                appointment_type=picked.appointment_type,
                provider=picked.provider,
                first=first,
                patient_id=patient_id,
                staff=staff,
                exclude_id=exclude_id,
            ),
            prev_week=max(first - timedelta(days=7), timezone.localdate()),
            next_week=first + timedelta(days=7),
        )
    return ctx


def _conflict(request, template, ctx, exc: ValidationError, partial=None):
    ctx["booking_errors"] = _errors(exc)
    ctx["next_slots"] = getattr(exc, "next_slots", [])
    status = 409 if isinstance(exc, SlotTaken | booking.BookingCapReached) else 422
    return render_page(request, template, ctx, partial=partial, status=status)


def _ics_response(appointment: Appointment, audience: str) -> HttpResponse:
    response = HttpResponse(
        appointment_ics(appointment, audience=audience), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="appointment-{appointment.pk}.ics"'
    return response


def _parse_day(value: str | None) -> date:
    """``?date=``, clamped to the clinic's date window (a far date must not overflow)."""
    return parse_day(value, timezone.localdate())


def _csv_response(qs, filename: str):
    header = [
        "id",
        "start",
        "end",
        "status",
        "type",
        "provider",
        "patient",
        "patient_id_number",
        "source",
        "reason",
        "cancel_reason",
    ]
    rows = (
        [
            a.pk,
            timezone.localtime(a.start).isoformat(),
            timezone.localtime(a.end).isoformat(),
            a.status,
            a.appointment_type.name,
            a.provider.display_name,
            a.patient.full_name,
            a.patient.id_number,
            a.source,
            a.reason,
            a.cancel_reason,
        ]
        for a in qs.iterator(chunk_size=2000)
    )
    return csv_download(filename, header, rows)


def _history_filters(request) -> tuple[forms.HistoryFilterForm, dict]:
    """The history filter form bound to the query string, and ``selectors.history`` keyword
    arguments from it (invalid values are shown as form errors and ignored)."""
    form = forms.HistoryFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    return form, {
        "provider_id": getattr(data.get("provider"), "pk", None),
        "status": data.get("status", ""),
        "type_id": getattr(data.get("type"), "pk", None),
        "date_from": data.get("date_from"),
        "date_to": data.get("date_to"),
    }


def _query_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("export", None)
    return params.urlencode()
