"""Provider schedules, appointment types and calendar-feed tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import require_perm
from appointments import forms, selectors
from appointments.models import (
    AppointmentType,
    ProviderProfile,
)
from appointments.services import feeds
from appointments.services import schedules as schedule_services
from appointments.slots import parse_slot_value
from uscpis.forms import parse_id
from uscpis.http import Request, render_page


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def schedules(request: Request):
    if request.method == "POST":  # create missing provider profiles
        schedule_services.provider_profiles_create_missing(actor=request.user)
        messages.success(request, "Provider profiles created.")
        return redirect("appointments:schedules")
    providers = ProviderProfile.objects.select_related("user").prefetch_related("weekly_blocks")
    return render_page(
        request,
        "appointments/schedules.html",
        {
            "providers": providers,
            "types": AppointmentType.objects.all(),
            "missing": selectors.providers_without_profile().count(),
        },
    )


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def schedule_edit(request: Request, pk: int):
    provider = get_object_or_404(ProviderProfile.objects.select_related("user"), pk=pk)
    action = request.POST.get("form") if request.method == "POST" else None
    block_form = forms.WeeklyBlockForm(request.POST if action == "block" else None)
    exception_form = forms.ExceptionForm(request.POST if action == "exception" else None)
    context = {"provider": provider, "block_form": block_form, "exception_form": exception_form}
    context["blocks"] = provider.weekly_blocks.all()
    context["exceptions"] = provider.exceptions.filter(
        ends_at__gte=timezone.now() - timedelta(days=30)
    )
    moves: dict[int, datetime] = {}
    seen: set[int] | None = None  # the affected appointments the form was shown with
    if action == "exception" and exception_form.is_valid():
        data = exception_form.cleaned_data
        affected = list(
            selectors.appointments_affected_by_time_off(
                provider=provider,
                kind=data["kind"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
            )
        )
        confirmed = request.POST.get("cancel_affected") == "1"
        if affected:
            # Show who is booked in that time, and where each could move, before anything
            # changes; shown again when a chosen move cannot be made.
            context["affected"] = selectors.time_off_move_options(
                affected, starts_at=data["starts_at"], ends_at=data["ends_at"]
            )
            context["affected_ids"] = _ids(affected)
            for item in context["affected"]:
                item.chosen = request.POST.get(item.field_name) or ""
            posted_ids = request.POST.get("affected_ids", "")
            if confirmed and posted_ids != _ids(affected):
                # Booked meanwhile: nobody reviewed it yet, so nothing happens to it unseen.
                context["move_error"] = (
                    "The appointments in this time changed since they were listed; review "
                    "them again."
                )
                confirmed = False
        if affected and not confirmed:
            return render_page(request, "appointments/schedule_edit.html", context, status=409)
        seen = {a.pk for a in affected}
        moves, bad = _posted_moves(request, affected)
        if bad:
            context["move_error"] = bad
            return render_page(request, "appointments/schedule_edit.html", context, status=409)
    if action is not None:
        try:
            changed = _schedule_change(
                request, provider, action, block_form, exception_form, moves=moves, reviewed=seen
            )
        except ValidationError as exc:  # a move could not be made: nothing changed
            context["move_error"] = " ".join(exc.messages)
            if not context.get("affected"):  # booked just now: no list shown to carry it
                messages.error(request, context["move_error"])
            return render_page(request, "appointments/schedule_edit.html", context, status=409)
        if not changed:
            return render_page(request, "appointments/schedule_edit.html", context, status=422)
        if context.get("affected"):
            moved = len(moves)
            cancelled = len(context["affected"]) - moved
            messages.warning(
                request,
                f"{moved} appointment(s) moved and {cancelled} cancelled; each patient was "
                "told (those cancelled were sent a link to book again and put on the "
                "waitlist).",
            )
        messages.success(request, "Schedule updated.")
        return redirect("appointments:schedule_edit", provider.pk)
    return render_page(request, "appointments/schedule_edit.html", context)


def _ids(affected) -> str:
    return ",".join(str(a.pk) for a in affected)


def _posted_moves(request: Request, affected) -> tuple[dict[int, datetime], str]:
    """The moves chosen on the form: ``move_<id>`` is a slot value (a new time with the same
    provider) or "cancel"/absent. Returns them, or an error for a tampered value."""
    moves: dict[int, datetime] = {}
    for appointment in affected:
        value = request.POST.get(f"move_{appointment.pk}") or "cancel"
        if value == "cancel":
            continue
        try:
            provider_id, start = parse_slot_value(value)
        except ValidationError as exc:
            return {}, " ".join(exc.messages)
        if provider_id != appointment.provider_id:
            return {}, "An appointment can only move to another time with the same provider."
        moves[appointment.pk] = start
    return moves, ""


def _schedule_change(
    request: Request,
    provider,
    action: str,
    block_form,
    exception_form,
    *,
    moves=None,
    reviewed=None,
) -> bool:
    """Apply the posted schedule change; False when its form is invalid or it is unknown."""
    who = {"actor": request.user, "provider": provider}
    if action == "delete_block":
        schedule_services.weekly_block_delete(**who, block_id=_posted_id(request))
    elif action == "delete_exception":
        schedule_services.availability_exception_delete(**who, exception_id=_posted_id(request))
    elif action == "block" and block_form.is_valid():
        schedule_services.weekly_block_add(**who, block=block_form.save(commit=False))
    elif action == "exception" and exception_form.is_valid():
        schedule_services.availability_exception_add(
            **who,
            exception=exception_form.save(commit=False),
            cancel_affected=request.POST.get("cancel_affected") == "1",
            moves=moves,
            reviewed=reviewed,
        )
    elif action == "feed":
        feeds.provider_feed_regenerate(**who, revoke=request.POST.get("revoke") == "1")
    else:
        return False
    return True


def _posted_id(request: Request) -> int:
    """The hidden row id; anything that is not a positive number matches no row."""
    return parse_id(request.POST.get("id")) or 0


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def type_edit(request: Request, pk: int | None = None):
    instance = get_object_or_404(AppointmentType, pk=pk) if pk else None
    form = forms.AppointmentTypeForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = schedule_services.appointment_type_save(
            actor=request.user, appointment_type=form.save(commit=False)
        )
        messages.success(request, f"Saved {saved.name}.")
        return redirect("appointments:schedules")
    return render_page(
        request,
        "appointments/type_form.html",
        {"form": form, "instance": instance},
        status=422 if form.errors else 200,
    )


@require_POST
@require_perm("appointments.view_schedule")
def my_provider_feed(request: Request):
    provider = selectors.provider_for_user(request.user)
    if provider is None:
        raise Http404("You have no provider profile")
    feeds.provider_feed_regenerate(
        actor=request.user,
        provider=provider,
        revoke=request.POST.get("revoke") == "1",
    )
    messages.success(request, "Calendar feed updated. Old links no longer work.")
    return redirect("appointments:calendar")
