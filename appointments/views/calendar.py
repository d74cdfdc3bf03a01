"""The clinic calendar (day and week, whole clinic or one provider).

Its toolbar and grid are the same for everyone who may see the schedule and are read far
more often than they change, so they are rendered once and shared through the cache until a
write changes what they show (``appointments.schedule_cache``). The audit event is written
on every view, cached or not: the page lists patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from appointments import conf, schedule_cache, selectors
from appointments.views.common import _parse_day
from uscpis.http import Request, render_page

PARTS = "appointments/_calendar_parts.html"


@dataclass(frozen=True)
class CalendarParts:
    provider_id: int | None  # the provider shown, if the filter named an active one
    subtitle: str
    toolbar: str
    grid: str


def _render_parts(day: date, view: str, wanted: str) -> CalendarParts:
    providers = list(selectors.active_providers())
    provider = next((p for p in providers if str(p.pk) == wanted), None)
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        columns = selectors.week_calendar(monday, provider, providers)
        prev_day, next_day = monday - timedelta(days=7), monday + timedelta(days=7)
    else:
        columns = selectors.day_calendar(day, provider, providers)
        prev_day, next_day = day - timedelta(days=1), day + timedelta(days=1)
    ctx = {
        "columns": columns,
        "day": day,
        "view": view,
        "provider": provider,
        "prev_day": prev_day,
        "next_day": next_day,
        "providers": providers,
        "rows": selectors.calendar_rows(),
        "today": timezone.localdate(),
        "week_grid": view == "week" and provider is not None,
    }
    return CalendarParts(
        provider_id=getattr(provider, "pk", None),
        subtitle=render_to_string(f"{PARTS}#subtitle", ctx),
        toolbar=render_to_string(f"{PARTS}#toolbar", ctx),
        grid=render_to_string(f"{PARTS}#grid", ctx),
    )


def calendar_parts(day: date, view: str, wanted: str) -> CalendarParts:
    """The calendar's shared parts for ``day`` (its week for ``view="week"``) and the
    provider filter ``wanted`` (a provider id, or anything else for the whole clinic)."""
    wanted = wanted if wanted.isdigit() and len(wanted) <= 12 else ""
    days = [day - timedelta(days=day.weekday() - i) for i in range(7)] if view == "week" else [day]
    key = ":".join(
        [
            "calendar",
            view,
            day.isoformat(),
            wanted,
            timezone.localdate().isoformat(),  # the week view marks today
            str(conf.get("APPOINTMENT_CALENDAR_START_HOUR")),
            str(conf.get("APPOINTMENT_CALENDAR_END_HOUR")),
        ]
    )
    return schedule_cache.cached(key, days, lambda: _render_parts(day, view, wanted))


@require_GET
@require_perm("appointments.view_schedule")
def calendar(request: Request):
    day = _parse_day(request.GET.get("date"))
    view = "week" if request.GET.get("view") == "week" else "day"
    parts = calendar_parts(day, view, request.GET.get("provider", ""))
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="appointments.calendar",
        detail={"view": view, "date": day.isoformat(), "provider": parts.provider_id},
    )
    page = {
        "subtitle": mark_safe(parts.subtitle),  # noqa: S308 - rendered by the template engine
        "toolbar": mark_safe(parts.toolbar),  # noqa: S308
        "grid": mark_safe(parts.grid),  # noqa: S308
    }
    ctx = {"page": page, "own_provider": selectors.own_feed(request.user)}
    return render_page(request, "appointments/calendar.html", ctx, partial="calendar-grid")
