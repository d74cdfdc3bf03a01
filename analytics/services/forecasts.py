"""Forecasts, computed nightly by a beat task and stored (pages only read them).

Visit load: daily visits per visit kind (all, medical, dental) from the rollups. Three
candidates: the seasonal-naive baseline (the same weekday last week), Holt-Winters
exponential smoothing with a weekly season (statsmodels), and the same weekday 52 weeks
earlier (the academic calendar's breaks and exam weeks; it needs more than a year of history
before the backtest origins, so it competes only once the clinic has that). Each is backtested from 12
rolling origins over the last 12 weeks (fit on the data before the origin, forecast the
next 7 days); the one with the lower MAPE is used, per granularity (daily MAPE for the
daily forecast, MAPE of weekly totals for the weekly one). The 80 % interval is the
10th–90th percentile of the chosen method's backtest errors added to the forecast, so the
width is what the method actually missed by, not a model assumption. MAPE ignores days
with no visits (closed days), where a percentage error is undefined.

Stock-out: the average daily use of the last 28 days; days of cover = usable stock ÷ use,
with and without what is on order; the backtest error is how far the previous 28 days'
rate missed the last 28 days' use.
"""

from __future__ import annotations

import math
import warnings
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from analytics.epi import epi_week_start
from analytics.models import (
    ForecastSummary,
    StockFact,
    StockForecast,
    VisitFact,
    VisitForecast,
)
from analytics.services.generation import rollup_generation_bump_on_commit
from inventory.models import Item

KINDS = ("all", "medical", "dental")
SEASON = 7
BACKTEST_WEEKS = 12
HORIZON_DAYS = 56
HORIZON_WEEKS = 8
MIN_HISTORY_DAYS = 5 * SEASON
USE_WINDOW = 28
ETS_WINDOW = 26 * SEASON


def _naive(history: list[float], steps: int) -> list[float]:
    last_week = history[-SEASON:]
    return [last_week[i % SEASON] for i in range(steps)]


def _ets(history: list[float], steps: int) -> list[float]:
    # heavy optional dependency: loaded only when this runs
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    history = history[-ETS_WINDOW:]  # a weekly season needs months, not years (and is faster)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            history,
            trend=None,
            seasonal="add",
            seasonal_periods=SEASON,
            initialization_method="heuristic" if len(history) >= 4 * SEASON else "estimated",
        ).fit(use_brute=False)
        return [max(0.0, float(v)) for v in model.forecast(steps)]


YEAR = 52 * SEASON


def _last_year(history: list[float], steps: int) -> list[float]:
    """The same weekday 52 weeks earlier (the academic calendar repeats: breaks, exams)."""
    if len(history) < YEAR:
        raise ValueError("needs a year of history")
    return [history[len(history) - YEAR + i] for i in range(steps)]


METHODS = {"seasonal_naive": _naive, "holt_winters": _ets, "last_year": _last_year}
# Horizons longer than a year back are impossible; a method must have been backtested
# from at least this many origins to be chosen.
MIN_ORIGINS = 6


def _mape(actual: list[float], predicted: list[float]) -> float | None:
    pairs = [(a, p) for a, p in zip(actual, predicted, strict=True) if a > 0]
    if not pairs:
        return None
    return round(100 * sum(abs(a - p) / a for a, p in pairs) / len(pairs), 1)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def backtest(series: list[float], method: str) -> dict:
    """Rolling-origin backtest over the last ``BACKTEST_WEEKS`` weeks (1-week horizon)."""
    fn = METHODS[method]
    daily_a, daily_p, week_a, week_p = [], [], [], []
    n = len(series)
    origins = 0
    for k in range(BACKTEST_WEEKS, 0, -1):
        origin = n - k * SEASON
        if origin < 4 * SEASON or (method == "last_year" and origin < YEAR):
            continue
        origins += 1
        predicted = fn(series[:origin], SEASON)
        actual = series[origin : origin + SEASON]
        daily_a += actual
        daily_p += predicted
        week_a.append(sum(actual))
        week_p.append(sum(predicted))
    if origins < MIN_ORIGINS:
        daily_a, daily_p, week_a, week_p = [], [], [], []
    return {
        "daily_mape": _mape(daily_a, daily_p),
        "weekly_mape": _mape(week_a, week_p),
        "daily_errors": [a - p for a, p in zip(daily_a, daily_p, strict=True)],
        "weekly_errors": [a - p for a, p in zip(week_a, week_p, strict=True)],
    }


def _better(results: dict, key: str) -> str:
    """The method with the lowest MAPE (the seasonal-naive baseline on ties or when no
    method could be backtested)."""
    best = "seasonal_naive"
    for method in ("holt_winters", "last_year"):
        mape, best_mape = results[method][key], results[best][key]
        if mape is not None and (best_mape is None or mape < best_mape):
            best = method
    return best


def visit_series(kind: str, first: date, last: date) -> list[float]:
    qs = VisitFact.objects.filter(day__gte=first, day__lte=last)
    if kind != "all":
        qs = qs.filter(visit_kind=kind)
    rows = dict(qs.values("day").annotate(n=Sum("visits")).values_list("day", "n"))
    return [
        float(rows.get(first + timedelta(days=i), 0) or 0) for i in range((last - first).days + 1)
    ]


def visit_forecast_compute(*, today: date | None = None) -> None:
    """Fit, backtest and store the visit-load forecasts of every visit kind."""
    today = today or timezone.localdate()
    last = today - timedelta(days=1)  # today is not over yet
    first_fact = (
        VisitFact.objects.filter(visits__gt=0).order_by("day").values_list("day", flat=True)
    )
    first = first_fact.first()
    with transaction.atomic():
        rollup_generation_bump_on_commit()  # the cached forecast pages render afresh
        VisitForecast.objects.all().delete()
        ForecastSummary.objects.all().delete()
        for kind in KINDS:
            series = visit_series(kind, first, last) if first and first <= last else []
            if len(series) < MIN_HISTORY_DAYS or not any(series):
                for granularity in ("day", "week"):
                    ForecastSummary.objects.create(
                        kind=kind,
                        granularity=granularity,
                        method="insufficient",
                        mape=None,
                        naive_mape=None,
                        ets_mape=None,
                        history_days=len(series),
                    )
                continue
            results = {m: backtest(series, m) for m in METHODS}
            horizon = HORIZON_DAYS + SEASON
            for granularity, key, errors_key in (
                ("day", "daily_mape", "daily_errors"),
                ("week", "weekly_mape", "weekly_errors"),
            ):
                method = _better(results, key)
                ForecastSummary.objects.create(
                    kind=kind,
                    granularity=granularity,
                    method=method,
                    mape=results[method][key],
                    naive_mape=results["seasonal_naive"][key],
                    ets_mape=results["holt_winters"][key],
                    last_year_mape=results["last_year"][key],
                    history_days=len(series),
                )
                path = METHODS[method](series, horizon)
                errors = results[method][errors_key]
                lo, hi = _quantile(errors, 0.1), _quantile(errors, 0.9)
                rows = []
                if granularity == "day":
                    for i in range(HORIZON_DAYS):
                        rows.append((today + timedelta(days=i), path[i]))
                else:
                    week0 = epi_week_start(today) + timedelta(days=7)
                    offset = (week0 - today).days
                    for w in range(HORIZON_WEEKS):
                        start = offset + 7 * w
                        chunk = path[start : start + 7]
                        rows.append((week0 + timedelta(days=7 * w), sum(chunk)))
                VisitForecast.objects.bulk_create(
                    VisitForecast(
                        kind=kind,
                        granularity=granularity,
                        period_start=start_day,
                        expected=round(value, 2),
                        low80=round(max(0.0, value + lo), 2),
                        high80=round(max(0.0, value + hi), 2),
                    )
                    for start_day, value in rows
                )


def stock_forecast_compute(*, today: date | None = None) -> int:
    """Store "runs out in N days" for every active item; returns how many items."""

    today = today or timezone.localdate()
    recent_from = today - timedelta(days=USE_WINDOW)
    before_from = recent_from - timedelta(days=USE_WINDOW)
    use = {
        row["item_id"]: row
        for row in StockFact.objects.filter(day__gte=before_from, day__lt=today)
        .values("item_id")
        .annotate(
            recent=Sum("dispensed", filter=_q_day_gte(recent_from))
            - Sum("patient_returns", filter=_q_day_gte(recent_from)),
            before=Sum("dispensed", filter=_q_day_lt(recent_from))
            - Sum("patient_returns", filter=_q_day_lt(recent_from)),
        )
    }
    rows = []
    for item in Item.objects.filter(is_active=True).select_related("preferred_vendor"):
        figures = use.get(item.pk, {})
        recent = Decimal(figures.get("recent") or 0)
        before = Decimal(figures.get("before") or 0)
        rate = (recent / USE_WINDOW).quantize(Decimal("0.001"))
        error = None
        if recent > 0 and before > 0:
            error = round(float(abs(before - recent) / recent * 100), 1)
        on_hand, on_order = item.stock_available, item.stock_on_order
        days_left = days_with_orders = runs_out = reorder_by = None
        if rate > 0:
            days_left = int((on_hand / rate).to_integral_value(ROUND_FLOOR))
            days_with_orders = int(((on_hand + on_order) / rate).to_integral_value(ROUND_FLOOR))
            runs_out = today + timedelta(days=days_left)
            lead = item.preferred_vendor.lead_time_days if item.preferred_vendor else 7
            reorder_by = runs_out - timedelta(days=lead)
        rows.append(
            StockForecast(
                item=item,
                daily_use=rate,
                on_hand=on_hand,
                on_order=on_order,
                days_left=days_left,
                days_left_with_orders=days_with_orders,
                runs_out_on=runs_out,
                reorder_by=reorder_by,
                backtest_error_pct=error,
            )
        )
    with transaction.atomic():
        rollup_generation_bump_on_commit()
        StockForecast.objects.all().delete()
        StockForecast.objects.bulk_create(rows)
    return len(rows)


def _q_day_gte(day):

    return Q(day__gte=day)


def _q_day_lt(day):

    return Q(day__lt=day)


def forecasts_compute(*, today: date | None = None) -> None:
    visit_forecast_compute(today=today)
    stock_forecast_compute(today=today)
