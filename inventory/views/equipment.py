"""Equipment, maintenance schedules and logs, and the maintenance calendar."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_perm
from inventory import forms, selectors
from inventory.models import (
    Equipment,
    MaintenanceSchedule,
)
from inventory.services import equipment as equipment_services
from inventory.views.common import PAGE_SIZE, _form_error, _status
from uscpis.dates import clamp_day
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("inventory.view_stock")
def equipment_list(request: Request):
    qs = (
        Equipment.objects.select_related("location")
        .prefetch_related("schedules")
        .order_by("name", "asset_tag")
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "inventory/equipment_list.html",
        {"page": page, "today": timezone.localdate()},
        partial="equipment-table",
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_equipment")
def equipment_edit(request: Request, pk: int | None = None):
    equipment = get_object_or_404(Equipment, pk=pk) if pk else None
    form = forms.EquipmentForm(request.POST or None, instance=equipment)
    if request.method == "POST" and form.is_valid():
        try:
            equipment = equipment_services.equipment_save(
                actor=request.user, equipment=form.save(commit=False)
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            return redirect("inventory:equipment_detail", pk=equipment.pk)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Edit {equipment}" if equipment else "New equipment",
            "back": reverse("inventory:equipment"),
        },
        status=_status(form),
    )


@require_GET
@require_perm("inventory.view_stock")
def equipment_detail(request: Request, pk: int):
    equipment = get_object_or_404(Equipment.objects.select_related("location", "vendor"), pk=pk)
    logs = Paginator(equipment.logs.select_related("performed_by"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "inventory/equipment_detail.html",
        {
            "equipment": equipment,
            "schedules": equipment.schedules.all(),
            "logs": logs,
            "today": timezone.localdate(),
            "log_form": forms.MaintenanceLogForm(initial={"performed_on": timezone.localdate()}),
            "schedule_form": forms.ScheduleForm(),
        },
        partial="maintenance-log",
    )


@require_POST
@require_perm("inventory.manage_equipment")
def equipment_log(request: Request, pk: int):
    equipment = get_object_or_404(Equipment, pk=pk)
    form = forms.MaintenanceLogForm(request.POST)
    if form.is_valid():
        try:
            equipment_services.maintenance_record(
                actor=request.user, equipment=equipment, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Maintenance recorded.")
            return redirect_htmx_aware(request, reverse("inventory:equipment_detail", args=[pk]))
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Log maintenance for {equipment}",
            "back": reverse("inventory:equipment_detail", args=[pk]),
        },
        status=422,
    )


@require_POST
@require_perm("inventory.manage_equipment")
def schedule_add(request: Request, pk: int):
    equipment = get_object_or_404(Equipment, pk=pk)
    form = forms.ScheduleForm(request.POST, instance=MaintenanceSchedule(equipment=equipment))
    if form.is_valid():
        try:
            equipment_services.schedule_save(actor=request.user, schedule=form.save(commit=False))
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Schedule saved.")
            return redirect_htmx_aware(request, reverse("inventory:equipment_detail", args=[pk]))
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Schedule for {equipment}",
            "back": reverse("inventory:equipment_detail", args=[pk]),
        },
        status=422,
    )


@require_GET
@require_perm("inventory.view_stock")
def equipment_calendar(request: Request):
    today = timezone.localdate()
    try:
        year, month = (
            int(request.GET.get("year", today.year)),
            int(request.GET.get("month", today.month)),
        )
        first = clamp_day(date(year, month, 1)).replace(day=1)  # a far year must not overflow
    except (ValueError, OverflowError):
        first = today.replace(day=1)
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    due: dict[date, list] = {}
    for schedule in selectors.schedules_between(first, last):
        due.setdefault(schedule.next_due_on, []).append(schedule)
    overdue = selectors.schedules_between(date(1900, 1, 1), today - timedelta(days=1))
    weeks = [
        [{"day": d, "in_month": d.month == first.month, "items": due.get(d, [])} for d in week]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    ]
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = last + timedelta(days=1)
    return render_page(
        request,
        "inventory/equipment_calendar.html",
        {
            "weeks": weeks,
            "month": first,
            "prev": prev_month,
            "next": next_month,
            "today": today,
            "overdue": list(overdue[:50]),
        },
    )
