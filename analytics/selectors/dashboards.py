"""Reads for the analytics overview and visits pages: the visit rollup (one read for
every range and breakdown), today's live queue, certificates and stock alerts, and the
filter form's choices. The other pages' reads: ``diagnoses``, ``outcomes``,
``operations`` (productivity, inventory, data quality), ``financial``, ``surveillance``."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

from django.core.cache import cache
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.roles import PROVIDER_ROLES
from analytics.charts import Chart, bar_chart, line_chart
from analytics.epi import epi_week, epi_week_start
from analytics.models import AGE_BANDS, VisitFact
from analytics.selectors.common import (
    YEAR,
    Filters,
    Kpi,
    as_of,
    pct,
)
from analytics.selectors.visit_days import VisitDays, visit_days
from appointments.models import Appointment, AppointmentStatus, ProviderProfile
from appointments.slots import local_day_bounds, working_time
from inventory.models import Item, LotStatus, StockLot
from patients.models import (
    CertificateStatus,
    MedicalCertificate,
)

# --- Overview ---------------------------------------------------------------------------


def _change(now: int, before: int) -> tuple[str, str]:
    if not before:
        return "no visits the same period last year", "neutral"
    change = pct(now - before, before)
    return f"{change:+.0f}% vs {before:,} last year", "good" if change >= 0 else "warn"


def overview_days(f: Filters) -> VisitDays:
    """The visit rollup's day totals the overview shows (its KPIs and weekly chart), read in
    one statement: the period, today, this week, and each of them last year."""
    today = timezone.localdate()
    ranges = [(f.date_from, f.date_to), (epi_week_start(today), today)]
    return visit_days(f, ranges + [(a - YEAR, b - YEAR) for a, b in ranges])


def overview(f: Filters, *, days: VisitDays | None = None) -> list[Kpi]:
    """The headline figures. Visits today and this week come from today's rollup (refreshed
    every few minutes); waiting now and the median wait are live from today's queue.
    ``days``: ``overview_days(f)`` if the caller has read it already."""

    today = timezone.localdate()
    week_start = epi_week_start(today)
    days = days or overview_days(f)
    today_n = days.total(today, today)
    today_ly = days.total(today - YEAR, today - YEAR)
    week_n = days.total(week_start, today)
    week_ly = days.total(week_start - YEAR, today - YEAR)
    kpis = [
        Kpi("Visits today", today_n, *_change(today_n, today_ly)),
        Kpi("Visits this week", week_n, *_change(week_n, week_ly)),
    ]
    start, end = local_day_bounds(today)
    queue = Appointment.objects.filter(start__gte=start, start__lt=end)
    if f.provider_id:
        queue = queue.filter(provider__user_id=f.provider_id)
    # One read: the checked-in (waiting) and the seen (both times set) of today's queue.
    rows = queue.filter(
        Q(status=AppointmentStatus.CHECKED_IN)
        | Q(checked_in_at__isnull=False, consultation_started_at__isnull=False)
    ).values_list("status", "checked_in_at", "consultation_started_at")
    waiting = 0
    waits = []
    for status, c, s in rows:
        waiting += status == AppointmentStatus.CHECKED_IN
        if c is not None and s is not None:
            waits.append((s - c).total_seconds() / 60)
    median_wait = round(statistics.median(waits)) if waits else None
    kpis.append(
        Kpi(
            "Waiting now",
            waiting,
            f"median wait today {median_wait} min"
            if median_wait is not None
            else "no one seen yet today",
            "warn" if waiting > 5 else "neutral",
        )
    )
    totals = {
        name: days.total(f.date_from, f.date_to, measure)
        for name, measure in (
            ("completed", "completed"),
            ("no_shows", "no_shows"),
            ("booked", "booked_minutes"),
        )
    }
    rate = pct(totals["no_shows"] or 0, (totals["completed"] or 0) + (totals["no_shows"] or 0))
    kpis.append(
        Kpi(
            "No-show rate",
            f"{rate}%" if rate is not None else "—",
            f"{totals['no_shows'] or 0:,} no-shows in the period",
            "bad" if rate and rate > 15 else "neutral",
        )
    )
    available = available_minutes(f)
    util = pct(totals["booked"] or 0, sum(available.values()))
    kpis.append(
        Kpi(
            "Provider utilisation",
            f"{util}%" if util is not None else "—",
            "booked ÷ scheduled hours in the period",
        )
    )
    pending = MedicalCertificate.objects.filter(status=CertificateStatus.PENDING).count()
    decided = MedicalCertificate.objects.filter(
        decided_at__isnull=False,
        created_at__date__gte=f.date_from,
        created_at__date__lte=f.date_to,
    ).values_list("created_at", "decided_at")
    hours = [(d - c).total_seconds() / 3600 for c, d in decided]
    turnaround = (
        f"median turnaround {statistics.median(hours):.1f} h"
        if hours
        else "none decided in the period"
    )
    kpis.append(
        Kpi("Certificates pending", pending, turnaround, "warn" if pending > 10 else "neutral")
    )
    low = Item.objects.filter(is_active=True, stock_available__lte=F("reorder_point")).count()
    expiring = (
        StockLot.objects.filter(
            status=LotStatus.AVAILABLE,
            quantity__gt=0,
            expiry_date__isnull=False,
            expiry_date__lte=today + timedelta(days=60),
        )
        .values("item_id")
        .distinct()
        .count()
    )
    kpis.append(
        Kpi(
            "Low-stock items",
            low,
            f"{expiring} item(s) with lots expiring within 60 days",
            "bad" if low else "good",
        )
    )
    return kpis


def available_minutes(f: Filters) -> dict[int, int]:
    """Scheduled minutes per provider user in the period (from the weekly availability)."""

    profiles = ProviderProfile.objects.filter(is_active=True)
    if f.provider_id:
        profiles = profiles.filter(user_id=f.provider_id)
    by_profile = dict(profiles.values_list("id", "user_id"))
    window = (
        local_day_bounds(f.date_from)[0],
        local_day_bounds(min(f.date_to, timezone.localdate()))[1],
    )
    working = working_time(list(by_profile), window)
    return {
        by_profile[pid]: sum(int((e - s).total_seconds() // 60) for s, e in intervals)
        for pid, intervals in working.items()
    }


# --- Visits and trends -------------------------------------------------------------------


def _weekly(per_day: dict[date, int], shift: timedelta = timedelta(0)) -> dict[date, int]:
    """Visits per epi week (keyed by the week's Sunday, in this year's calendar)."""
    totals: dict[date, int] = {}
    for day, n in per_day.items():
        key = epi_week_start(day + shift)
        totals[key] = totals.get(key, 0) + n
    return totals


def _monthly(per_day: dict[date, int]) -> dict[date, int]:
    totals: dict[date, int] = {}
    for day, n in per_day.items():
        key = day.replace(day=1)
        totals[key] = totals.get(key, 0) + n
    return totals


def visits_charts(
    f: Filters, *, weekly_only: bool = False, days: VisitDays | None = None
) -> list[Chart]:
    """The visits charts, from one read of the visit rollup (``visit_days``): the period's
    and last year's day totals, and (unless ``weekly_only``) the period's breakdowns.
    ``days``: already read with at least the period and last year's (``overview_days``)."""
    first, last = epi_week_start(f.date_from), f.date_to
    ly_from, ly_to = f.date_from - YEAR, f.date_to - YEAR
    if days is None or (not weekly_only and not days.by):
        days = visit_days(
            f, [(f.date_from, f.date_to), (ly_from, ly_to)], breakdowns=not weekly_only
        )
    this_days = days.per_day(f.date_from, f.date_to)
    ly_days = days.per_day(ly_from, ly_to)
    this_year = _weekly(this_days)
    last_year = _weekly(ly_days, shift=YEAR)
    weeks = []
    week = first
    while week <= last:
        weeks.append(week)
        week += timedelta(days=7)
    labels = [f"W{epi_week(w)[1]:02d} {w:%d %b}" for w in weeks]
    charts = [
        line_chart(
            "visits-weekly",
            "Visits per epidemiological week, with the same weeks last year",
            labels,
            [
                ("This period", [this_year.get(w, 0) for w in weeks]),
                ("Last year", [last_year.get(w, 0) for w in weeks]),
            ],
            header=["Week (starts Sunday)", "Visits", "Same week last year"],
        )
    ]
    if weekly_only:
        return charts
    monthly = _monthly(this_days)
    monthly_ly = _monthly(ly_days)
    months = sorted(monthly)
    charts.append(
        line_chart(
            "visits-monthly",
            "Visits per month, with last year",
            [f"{m:%b %Y}" for m in months],
            [
                ("This period", [monthly.get(m, 0) for m in months]),
                ("Last year", [monthly_ly.get(m.replace(year=m.year - 1), 0) for m in months]),
            ],
            header=["Month", "Visits", "Same month last year"],
        )
    )
    for dim, title in (
        ("unit", "Visits by college / department"),
        ("patient_type", "Visits by patient type"),
        ("age_band", "Visits by age band"),
        ("sex", "Visits by sex"),
        ("visit_kind", "Medical vs dental"),
    ):
        rows = days.by[dim]
        if dim == "age_band":
            rows = sorted(rows, key=lambda r: AGE_BANDS.index(r[0]) if r[0] in AGE_BANDS else 99)
        charts.append(
            bar_chart(
                f"visits-by-{dim.replace('_', '-')}",
                title,
                [(_dim_label(dim, value), n) for value, n in rows],
                header=[title.replace("Visits by ", "").capitalize(), "Visits"],
            )
        )
    walk = days.total(f.date_from, f.date_to, "walk_ins")
    scheduled = (
        days.total(f.date_from, f.date_to, "appointments")
        - days.total(f.date_from, f.date_to, "cancelled")
        - walk
    )
    charts.append(
        bar_chart(
            "walk-in-vs-booked",
            "Walk-in vs booked appointments",
            [("Booked ahead", scheduled), ("Walk-in", walk)],
            header=["Source", "Appointments (not cancelled)"],
        )
    )
    return charts


_LABELS = {
    "sex": {"F": "Female", "M": "Male", "X": "Intersex / other"},
    "visit_kind": {"medical": "Medical", "dental": "Dental"},
    "patient_type": {
        "student": "Student",
        "employee": "Employee",
        "dependent": "Dependent",
        "other": "Other",
    },
}


def _dim_label(dim: str, value: str) -> str:
    return _LABELS.get(dim, {}).get(value, value or "(none)")


def filter_choices() -> dict:
    """Choices for the filter form: units seen in the rollups and providers."""

    # The units only change when the rollups do: cached per refresh.
    stamp = as_of()
    units = cache.get_or_set(
        f"analytics:filter-units:{stamp.timestamp() if stamp else 0}",
        lambda: list(
            VisitFact.objects.exclude(unit="")
            .values_list("unit", flat=True)
            .distinct()
            .order_by("unit")
        ),
        300,
    )
    providers = list(
        User.objects.filter(role__in=PROVIDER_ROLES).order_by("last_name", "first_name")
    )
    return {"units": units, "providers": providers}
