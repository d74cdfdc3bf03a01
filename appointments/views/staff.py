"""Staff pages: booking on behalf, walk-ins, calendars, the queue and appointment detail."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_phi_list, read_purpose
from accounts.models import AuditAction
from accounts.permissions import require_perm
from accounts.roles import PROVIDER_ROLES, user_has_perm
from appointments import forms, picker, selectors
from appointments.models import (
    TRANSITIONS,
    Appointment,
    AppointmentStatus,
    BookingSource,
)
from appointments.services import booking, lifecycle
from appointments.slots import SlotTaken
from appointments.views.common import (
    _conflict,
    _ics_response,
    _parse_day,
    _picker_context,
)
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_for_patient")
def staff_book(request: Request):
    ctx = {
        "staff": True,
        "patient_value": request.GET.get("patient", ""),
        **_picker_context(picker.picked(request.GET or None, staff=True), staff=True),
    }
    if request.method == "POST":
        form = forms.StaffBookForm(request.POST)
        ctx["patient_value"] = request.POST.get("patient", "")
        try:
            if not form.is_valid():
                raise ValidationError([e for errs in form.errors.values() for e in errs])
            provider, start = form.cleaned_data["slot"]
            appointment = booking.appointment_book(
                actor=request.user,
                patient=form.cleaned_data["patient"],
                appointment_type=form.cleaned_data["type"],
                provider=provider,
                start=start,
                reason=form.cleaned_data["reason"],
                source=BookingSource.STAFF,
            )
        except ValidationError as exc:
            return _conflict(request, "appointments/staff_book.html", ctx, exc)
        messages.success(request, f"Booked {appointment.patient.full_name}.")
        return redirect("appointments:staff_detail", appointment.pk)
    return render_page(request, "appointments/staff_book.html", ctx, partial="slot-picker")


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_for_patient")
def walk_in(request: Request):
    form = forms.WalkInForm(request.POST or None)
    ctx = {"form": form}
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            appointment = booking.appointment_walk_in(
                actor=request.user,
                patient=d["patient"],
                appointment_type=d["type"],
                provider=d["provider"],
                reason=d["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return render_page(
                request,
                "appointments/walk_in.html",
                ctx,
                status=409 if isinstance(exc, SlotTaken) else 422,
            )
        messages.success(
            request,
            f"{appointment.patient.full_name} is checked in for {timezone.localtime(appointment.start):%-I:%M %p}.",
        )
        return redirect("appointments:queue")
    return render_page(
        request, "appointments/walk_in.html", ctx, status=422 if form.errors else 200
    )


@require_GET
@require_perm("appointments.view_schedule")
def queue(request: Request):
    day = _parse_day(request.GET.get("date"))
    own = selectors.provider_for_user(request.user) if request.GET.get("mine") == "1" else None
    items = list(selectors.queue_for_day(day, own))
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="appointments.queue",
        detail={"date": day.isoformat(), "count": len(items)},
    )
    ctx = {
        "items": items,
        "day": day,
        "counts": selectors.day_counts(day),
        "mine": own is not None,
        "is_provider": request.user.role in PROVIDER_ROLES,
        "today": timezone.localdate(),
    }
    return render_page(request, "appointments/queue.html", ctx, partial="queue-table")


@require_GET
@require_perm("appointments.view_schedule")
def staff_detail(request: Request, pk: int):
    appointment = selectors.get_appointment_for_user(request.user, pk, purpose=AuditAction.READ)
    events = appointment.events.select_related("actor").order_by("at", "id")
    return render_page(
        request,
        "appointments/staff_detail.html",
        {
            "appointment": appointment,
            "events": events,
            "cancel_form": forms.CancelForm(),
            "reschedule_form": forms.StaffRescheduleForm(
                initial={
                    "provider": appointment.provider_id,
                    "date": timezone.localtime(appointment.start).date(),
                    "time": timezone.localtime(appointment.start).time(),
                }
            ),
            "next_actions": _next_actions(appointment, request.user),
        },
    )


def _next_actions(appointment: Appointment, user) -> list[tuple[str, str, str]]:
    if not user_has_perm(user, "appointments.manage_queue"):
        return []
    labels = {
        AppointmentStatus.CONFIRMED: ("Confirm", "secondary"),
        AppointmentStatus.CHECKED_IN: ("Check in", ""),
        AppointmentStatus.IN_CONSULTATION: ("Start consultation", ""),
        AppointmentStatus.COMPLETED: ("Complete", ""),
        AppointmentStatus.NO_SHOW: ("No-show", "danger"),
    }

    return [
        (to, *labels[to])
        for to in TRANSITIONS[appointment.status]
        if to in labels
        and not (to == AppointmentStatus.NO_SHOW and appointment.start > timezone.now())
    ]


@require_POST
@require_perm("appointments.manage_queue")
def staff_transition(request: Request, pk: int):
    appointment = selectors.get_appointment_for_user(request.user, pk, purpose=None)
    form = forms.TransitionForm(request.POST)
    error = ""
    try:
        if not form.is_valid():
            raise ValidationError("Unknown status.")
        appointment = lifecycle.appointment_transition(
            actor=request.user,
            appointment=appointment,
            to_status=form.cleaned_data["to"],
        )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx and request.POST.get("from") == "queue":
        day = timezone.localtime(appointment.start).date()
        ctx = {
            "items": list(selectors.queue_for_day(day)),
            "day": day,
            "counts": selectors.day_counts(day),
            "queue_error": error,
            "today": timezone.localdate(),
        }
        return render_page(
            request,
            "appointments/queue.html",
            ctx,
            partial="queue-table",
            status=409 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Marked {appointment.get_status_display().lower()}.")
    return redirect_htmx_aware(request, reverse("appointments:staff_detail", args=[appointment.pk]))


@require_POST
@require_perm("appointments.book_for_patient")
def staff_cancel(request: Request, pk: int):
    appointment = selectors.get_appointment_for_user(request.user, pk, purpose=None)
    form = forms.CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        booking.appointment_cancel(actor=request.user, appointment=appointment, reason=reason)
        messages.success(request, "Appointment cancelled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("appointments:staff_detail", args=[appointment.pk]))


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_for_patient")
def staff_reschedule(request: Request, pk: int):
    appointment = selectors.get_appointment_for_user(
        request.user, pk, purpose=read_purpose(request), detail={"view": "reschedule"}
    )
    form = forms.StaffRescheduleForm(
        request.POST or None,
        initial={
            "provider": appointment.provider_id,
            "date": timezone.localtime(appointment.start).date(),
            "time": timezone.localtime(appointment.start).time(),
        },
    )
    ctx = {"appointment": appointment, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            booking.appointment_reschedule(
                actor=request.user,
                appointment=appointment,
                start=form.cleaned_data["start"],
                provider=form.cleaned_data["provider"],
            )
        except ValidationError as exc:
            return _conflict(
                request, "appointments/staff_reschedule.html", ctx, exc, partial="reschedule-form"
            )
        messages.success(request, "Appointment moved.")
        return redirect_htmx_aware(
            request, reverse("appointments:staff_detail", args=[appointment.pk])
        )
    return render_page(
        request,
        "appointments/staff_reschedule.html",
        ctx,
        partial="reschedule-form",
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("appointments.view_schedule")
def staff_ics(request: Request, pk: int):
    appointment = selectors.get_appointment_for_user(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "ics"}
    )
    return _ics_response(appointment, "provider")
