"""Provider schedules, appointment types and calendar-feed tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
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
        if affected and request.POST.get("cancel_affected") != "1":
            # Show who is booked in that time before anything changes.
            context["affected"] = affected
            return render_page(request, "appointments/schedule_edit.html", context, status=409)
        if affected:
            messages.warning(
                request,
                f"{len(affected)} appointment(s) cancelled; the patients were told, sent a link "
                "to book again and put on the waitlist.",
            )
    if action is not None:
        if not _schedule_change(request, provider, action, block_form, exception_form):
            return render_page(request, "appointments/schedule_edit.html", context, status=422)
        messages.success(request, "Schedule updated.")
        return redirect("appointments:schedule_edit", provider.pk)
    return render_page(request, "appointments/schedule_edit.html", context)


def _schedule_change(request: Request, provider, action: str, block_form, exception_form) -> bool:
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
