"""The patient's booking flow and portal pages."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import read_purpose
from accounts.models import AuditAction
from accounts.permissions import require_perm
from appointments import conf, forms, picker, selectors
from appointments.models import (
    OfferStatus,
    PatientCalendarFeed,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from appointments.services import booking, feeds, waitlist
from appointments.views.common import (
    ACTIVE_NOT_DONE,
    PAGE_SIZE,
    _conflict,
    _csv_response,
    _history_filters,
    _ics_response,
    _picker_context,
    _query_without_page,
)
from uscpis.http import Request, redirect_htmx_aware, render_page
from uscpis.ratelimit import rate_limited


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_self")
@rate_limited("booking", account=lambda request: request.user.pk)
def book(request: Request):
    patient = selectors.patient_for_user(request.user)
    ctx = {
        "patient": patient,
        **_picker_context(
            picker.picked(request.GET or None, staff=False),
            patient_id=getattr(patient, "pk", None),
        ),
    }
    if patient is None:
        return render_page(request, "appointments/book.html", ctx)
    if request.method == "POST":
        form = forms.BookForm(request.POST)
        if not form.is_valid():
            ctx["booking_errors"] = [e for errs in form.errors.values() for e in errs]
            return render_page(request, "appointments/book.html", ctx, status=422)
        provider, start = form.cleaned_data["slot"]
        try:
            appointment = booking.appointment_book(
                actor=request.user,
                patient=patient,
                appointment_type=form.cleaned_data["type"],
                provider=provider,
                start=start,
                reason=form.cleaned_data["reason"],
                offered_slots_only=True,
            )
        except ValidationError as exc:
            return _conflict(request, "appointments/book.html", ctx, exc)
        messages.success(request, "Your appointment is booked. A confirmation email is on its way.")
        return redirect("appointments:my_detail", appointment.pk)
    return render_page(request, "appointments/book.html", ctx, partial="slot-picker")


@require_GET
@require_perm("appointments.book_self")
def my_list(request: Request):
    export = request.GET.get("export") == "csv"
    patient = selectors.own_patient(
        request.user,
        purpose=AuditAction.EXPORT if export else AuditAction.READ,
        detail={"format": "csv"} if export else {"view": "my_list"},
    )
    if patient is None:
        return render_page(request, "appointments/my_list.html", {"patient": None})
    form, filters = _history_filters(request)
    qs = selectors.history(patient_id=patient.pk)
    filtered = selectors.history(patient_id=patient.pk, **filters)
    if export:
        return _csv_response(filtered, "my-appointments.csv")
    now = timezone.now()
    upcoming = list(
        qs.filter(start__gte=now - timedelta(hours=12), status__in=ACTIVE_NOT_DONE).order_by(
            "start"
        )[:20]
    )
    page = Paginator(filtered.exclude(pk__in=[a.pk for a in upcoming]), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    ctx = {
        "patient": patient,
        "upcoming": upcoming,
        "page": page,
        "filter_form": form,
        "query": _query_without_page(request),
        "waitlist": WaitlistEntry.objects.filter(
            patient=patient, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]
        ).select_related("appointment_type", "provider__user"),
        "feed": PatientCalendarFeed.objects.filter(patient=patient).first(),
        "waitlist_form": forms.WaitlistForm(
            initial={
                "date_from": timezone.localdate(),
                "date_to": timezone.localdate() + timedelta(days=14),
            }
        ),
    }
    ctx["offers"] = WaitlistOffer.objects.filter(
        entry__patient=patient, status=OfferStatus.PENDING, expires_at__gt=now
    ).select_related("entry__appointment_type", "provider__user")
    return render_page(request, "appointments/my_list.html", ctx, partial="history-table")


@require_GET
@require_perm("appointments.book_self")
def my_detail(request: Request, pk: int):
    appointment = selectors.get_own_appointment(request.user, pk, purpose=AuditAction.READ)
    cutoff = timedelta(minutes=conf.get("APPOINTMENT_CANCEL_CUTOFF_MINUTES"))
    can_change = appointment.is_upcoming and appointment.start - timezone.now() >= cutoff
    return render_page(
        request,
        "appointments/my_detail.html",
        {
            "appointment": appointment,
            "can_change": can_change,
            "cutoff_hours": cutoff.total_seconds() / 3600,
        },
    )


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_self")
def my_reschedule(request: Request, pk: int):
    appointment = selectors.get_own_appointment(
        request.user, pk, purpose=read_purpose(request), detail={"view": "reschedule"}
    )
    params = request.GET.copy()
    params.setdefault("type", str(appointment.appointment_type_id))
    params.setdefault("provider", str(appointment.provider_id))
    picker_form = forms.SlotPickerForm(params)
    ctx = {
        "appointment": appointment,
        "form": picker_form,
        **_picker_context(
            picker.Picked.from_form(picker_form),
            patient_id=appointment.patient_id,
            exclude_id=appointment.pk,
        ),
    }
    if request.method == "POST":
        form = forms.RescheduleForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError([e for errs in form.errors.values() for e in errs])
            provider, start = form.cleaned_data["slot"]
            booking.appointment_reschedule(
                actor=request.user,
                appointment=appointment,
                start=start,
                provider=provider,
                offered_slots_only=True,
            )
        except ValidationError as exc:
            return _conflict(request, "appointments/reschedule.html", ctx, exc)
        messages.success(request, "Your appointment has been moved.")
        return redirect("appointments:my_detail", appointment.pk)
    return render_page(request, "appointments/reschedule.html", ctx, partial="slot-picker")


@require_POST
@require_perm("appointments.book_self")
def my_cancel(request: Request, pk: int):
    appointment = selectors.get_own_appointment(request.user, pk, purpose=None)
    form = forms.CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        booking.appointment_cancel(actor=request.user, appointment=appointment, reason=reason)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("appointments:my_detail", appointment.pk)
    messages.success(request, "Your appointment is cancelled.")
    return redirect_htmx_aware(request, reverse("appointments:my_detail", args=[appointment.pk]))


@require_GET
@require_perm("appointments.book_self")
def my_ics(request: Request, pk: int):
    appointment = selectors.get_own_appointment(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "ics"}
    )
    return _ics_response(appointment, "patient")


@require_POST
@require_perm("appointments.book_self")
def my_feed(request: Request):
    patient = selectors.patient_for_user(request.user)
    if patient is None:
        raise Http404("No patient record")
    feeds.patient_feed_regenerate(
        actor=request.user,
        patient=patient,
        revoke=request.POST.get("revoke") == "1",
    )
    messages.success(request, "Calendar feed updated. Old links no longer work.")
    return redirect("appointments:my_list")


@require_POST
@require_perm("appointments.book_self")
def waitlist_join(request: Request):
    patient = selectors.patient_for_user(request.user)
    if patient is None:
        raise Http404("No patient record")
    form = forms.WaitlistForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError([e for errs in form.errors.values() for e in errs])
        d = form.cleaned_data
        waitlist.waitlist_join(
            actor=request.user,
            patient=patient,
            appointment_type=d["type"],
            provider=d["provider"],
            date_from=d["date_from"],
            date_to=d["date_to"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("appointments:my_list")
    messages.success(request, "You're on the waitlist. We'll email you when a slot opens.")
    return redirect("appointments:my_list")


@require_http_methods(["GET", "POST"])
@require_perm("appointments.book_self")
def waitlist_offer(request: Request, pk: int):
    offer = selectors.get_own_offer(request.user, pk, purpose=read_purpose(request))
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "accept":
                appointment = waitlist.waitlist_offer_accept(actor=request.user, offer=offer)
                messages.success(request, "Booked. A confirmation email is on its way.")
                return redirect("appointments:my_detail", appointment.pk)
            waitlist.waitlist_offer_decline(actor=request.user, offer=offer)
            messages.info(request, "Offer declined; you stay on the waitlist.")
            return redirect("appointments:my_list")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return render_page(
                request, "appointments/waitlist_offer.html", {"offer": offer}, status=409
            )
    return render_page(request, "appointments/waitlist_offer.html", {"offer": offer})
