"""Reads for the surveillance and forecast pages."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone

from analytics.charts import Chart, line_chart
from analytics.epi import ears, epi_week, epi_week_start, weekly_flag
from analytics.models import (
    AberrationSignal,
    ForecastSummary,
    StockForecast,
    SyndromeDaily,
    SyndromeGroup,
    VisitFact,
    VisitForecast,
)
from analytics.services.surveillance import daily_series, weekly_history

DAILY_DAYS = 90
TABLE_WEEKS = 12


def weeks_ending(today: date, n: int) -> list[date]:
    """The Sundays starting the last ``n`` epidemiological weeks (the current one last)."""
    current = epi_week_start(today)
    return [current - timedelta(days=7 * k) for k in range(n - 1, -1, -1)]


def weekly_counts(
    groups: list[SyndromeGroup], first: date, last: date
) -> dict[int, dict[date, int]]:
    """Cases per group per epi week (keyed by the week's Sunday)."""
    out: dict[int, dict[date, int]] = {g.pk: {} for g in groups}
    for group_id, day, cases in SyndromeDaily.objects.filter(
        group__in=groups, day__gte=first, day__lte=last
    ).values_list("group_id", "day", "cases"):
        week = epi_week_start(day)
        out[group_id][week] = out[group_id].get(week, 0) + cases
    return out


def weekly_report(today: date | None = None, weeks: int = TABLE_WEEKS) -> dict:
    """The notifiable-disease style table: syndromes × the last ``weeks`` morbidity weeks."""
    today = today or timezone.localdate()
    starts = weeks_ending(today, weeks)
    groups = list(SyndromeGroup.objects.filter(is_active=True))
    counts = weekly_counts(groups, starts[0], today)
    rows = []
    for g in groups:
        values = [counts[g.pk].get(w, 0) for w in starts]
        rows.append({"group": g, "values": values, "total": sum(values)})
    return {
        "weeks": [
            {"start": w, "end": w + timedelta(days=6), "number": epi_week(w + timedelta(days=3))}
            for w in starts
        ],
        "rows": rows,
    }


def recent_signals(limit: int = 20):
    return AberrationSignal.objects.select_related("group").order_by("-started_on")[:limit]


def group_charts(group: SyndromeGroup, today: date | None = None) -> list[Chart]:
    """Daily cases with the EARS (C2) threshold for the last 90 days, and weekly cases with
    the seasonal (historical-limits) baseline for the last 52 weeks."""

    today = today or timezone.localdate()
    first = today - timedelta(days=DAILY_DAYS + 10)
    series = daily_series(group, first, today)
    stats = ears(series)[10:]
    days = [first + timedelta(days=10 + i) for i in range(len(stats))]
    daily = line_chart(
        f"syndrome-{group.slug}-daily",
        f"{group.name}: cases per day and the EARS threshold",
        [f"{d:%d %b}" for d in days],
        [
            ("Cases", [s.count for s in stats]),
            (
                "Threshold (C2)",
                [round(s.threshold, 1) if s.threshold is not None else None for s in stats],
            ),
        ],
        header=["Day", "Cases", "Threshold (C2: mean + 3 sd of days t−9…t−3)", "Flagged by"],
    )
    for row, s in zip(daily.rows, stats, strict=True):
        row.append(", ".join(s.methods) if s.methods and s.count >= group.min_cases else "")

    keyed = weekly_history(group, today)
    starts = weeks_ending(today, 52)
    labels, cases, limits, flags = [], [], [], []
    for w in starts:
        stat = weekly_flag(keyed, *epi_week(w + timedelta(days=3)))
        labels.append(f"{stat.year}-W{stat.week:02d}")
        cases.append(stat.count)
        limits.append(round(stat.threshold, 1) if stat.threshold is not None else None)
        flags.append("HL" if stat.flagged and stat.count >= group.min_cases else "")
    weekly_chart = line_chart(
        f"syndrome-{group.slug}-weekly",
        f"{group.name}: cases per morbidity week and the seasonal baseline",
        labels,
        [("Cases", cases), ("Seasonal limit (mean + 3 sd, same weeks of earlier years)", limits)],
        header=["Morbidity week", "Cases", "Seasonal limit", "Flagged"],
        note=""
        if any(v is not None for v in limits)
        else "The seasonal limit needs at least one earlier year of data.",
    )
    for row, flag in zip(weekly_chart.rows, flags, strict=True):
        row.append(flag)
    return [daily, weekly_chart]


# --- Forecasts ------------------------------------------------------------------------------


KIND_LABELS = {"all": "All visits", "medical": "Medical", "dental": "Dental"}
METHOD_LABELS = {
    "holt_winters": "Holt-Winters (weekly season)",
    "seasonal_naive": "Seasonal naive (same weekday last week)",
    "last_year": "Same week last year",
    "insufficient": "Not enough history yet",
}


def forecast_sections() -> list[dict]:
    summaries = {(s.kind, s.granularity): s for s in ForecastSummary.objects.all()}
    rows: dict[tuple[str, str], list[VisitForecast]] = {}
    for f in VisitForecast.objects.all():
        rows.setdefault((f.kind, f.granularity), []).append(f)
    today = timezone.localdate()
    past_weeks = weeks_ending(today, 9)[:-1]
    # One grouped read of the last 8 weeks' visits per kind (not one query per week × kind).
    per_week: dict[tuple[str, date], int] = {}
    for day, kind, n in (
        VisitFact.objects.filter(day__gte=past_weeks[0], day__lt=past_weeks[-1] + timedelta(days=7))
        .values("day", "visit_kind")
        .annotate(n=Sum("visits"))
        .values_list("day", "visit_kind", "n")
    ):
        for key in ((kind, epi_week_start(day)), ("all", epi_week_start(day))):
            per_week[key] = per_week.get(key, 0) + (n or 0)
    sections = []
    for kind in ("all", "medical", "dental"):
        charts = []
        for granularity in ("week", "day"):
            points = rows.get((kind, granularity), [])
            if not points:
                continue
            labels, history, expected, lo, hi = [], [], [], [], []
            if granularity == "week":
                for w in past_weeks:
                    labels.append(f"{w:%d %b}")
                    history.append(per_week.get((kind, w), 0))
                    expected.append(None)
                    lo.append(None)
                    hi.append(None)
            for p in points:
                labels.append(f"{p.period_start:%d %b}")
                history.append(None)
                expected.append(round(p.expected, 1))
                lo.append(round(p.low80, 1))
                hi.append(round(p.high80, 1))
            chart = line_chart(
                f"forecast-{kind}-{granularity}",
                f"{KIND_LABELS[kind]}: next 8 weeks ({'weekly' if granularity == 'week' else 'daily'})",
                labels,
                [("Actual", history), ("Forecast", expected)],
                header=["Period starting", "Actual", "Forecast", "80% low", "80% high"],
                bands=[(lo, hi)],
            )
            for row, low, high in zip(chart.rows, lo, hi, strict=True):
                row.extend([low, high])
            charts.append((granularity, summaries.get((kind, granularity)), chart))
        sections.append(
            {
                "kind": kind,
                "label": KIND_LABELS[kind],
                "summary_week": summaries.get((kind, "week")),
                "summary_day": summaries.get((kind, "day")),
                "charts": charts,
            }
        )
    return sections


def stock_forecasts():
    return StockForecast.objects.select_related("item").order_by("days_left", "item__name")
