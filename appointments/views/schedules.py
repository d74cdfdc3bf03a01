"""Provider schedules, appointment types and calendar-feed tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import audit_record
from accounts.permissions import require_perm
from accounts.roles import PROVIDER_ROLES
from appointments import forms, selectors
from appointments.models import (
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WeeklyAvailability,
)
from appointments.services import feeds
from uscpis.http import Request, render_page


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def schedules(request: Request):
    from accounts.models import User

    if request.method == "POST":  # create missing provider profiles
        with transaction.atomic():
            for user in User.objects.filter(
                role__in=PROVIDER_ROLES, is_active=True, provider_profile__isnull=True
            ):
                profile = ProviderProfile.objects.create(user=user)
                audit_record(action="create", obj=profile, request=request)
        messages.success(request, "Provider profiles created.")
        return redirect("appointments:schedules")
    providers = ProviderProfile.objects.select_related("user").prefetch_related("weekly_blocks")
    missing = User.objects.filter(
        role__in=PROVIDER_ROLES, is_active=True, provider_profile__isnull=True
    ).count()
    return render_page(
        request,
        "appointments/schedules.html",
        {"providers": providers, "types": AppointmentType.objects.all(), "missing": missing},
    )


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def schedule_edit(request: Request, pk: int):
    provider = get_object_or_404(ProviderProfile.objects.select_related("user"), pk=pk)
    block_form = forms.WeeklyBlockForm(
        request.POST if request.POST.get("form") == "block" else None
    )
    exception_form = forms.ExceptionForm(
        request.POST if request.POST.get("form") == "exception" else None
    )
    if request.method == "POST":
        action = request.POST.get("form")
        with transaction.atomic():
            if action == "delete_block":
                WeeklyAvailability.objects.filter(
                    provider=provider, pk=request.POST.get("id") or 0
                ).delete()
            elif action == "delete_exception":
                AvailabilityException.objects.filter(
                    provider=provider, pk=request.POST.get("id") or 0
                ).delete()
            elif action == "block" and block_form.is_valid():
                block_form.instance.provider = provider
                block_form.save()
            elif action == "exception" and exception_form.is_valid():
                exception_form.instance.provider = provider
                exception_form.instance.created_by = request.user
                exception_form.save()
            elif action == "feed":
                feeds.provider_feed_regenerate(
                    actor=request.user,
                    provider=provider,
                    revoke=request.POST.get("revoke") == "1",
                    request=request,
                )
            else:
                return render_page(
                    request,
                    "appointments/schedule_edit.html",
                    {
                        "provider": provider,
                        "block_form": block_form,
                        "exception_form": exception_form,
                    },
                    status=422,
                )
            audit_record(
                action="update", obj=provider, request=request, detail={"schedule": action}
            )
        messages.success(request, "Schedule updated.")
        return redirect("appointments:schedule_edit", provider.pk)
    return render_page(
        request,
        "appointments/schedule_edit.html",
        {
            "provider": provider,
            "block_form": block_form,
            "exception_form": exception_form,
            "blocks": provider.weekly_blocks.all(),
            "exceptions": provider.exceptions.filter(
                ends_at__gte=timezone.now() - timedelta(days=30)
            ),
        },
    )


@require_http_methods(["GET", "POST"])
@require_perm("appointments.manage_schedules")
def type_edit(request: Request, pk: int | None = None):
    instance = get_object_or_404(AppointmentType, pk=pk) if pk else None
    form = forms.AppointmentTypeForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            audit_record(action="update" if instance else "create", obj=saved, request=request)
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
        request=request,
    )
    messages.success(request, "Calendar feed updated. Old links no longer work.")
    return redirect("appointments:calendar")
