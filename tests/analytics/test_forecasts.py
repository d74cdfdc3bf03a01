"""Visit-load forecasts (backtest picks the better method, 80 % interval, stored) and the
stock-out forecast (runs out in N days, counting stock on order)."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import ForecastSummary, StockFact, StockForecast, VisitFact, VisitForecast
from analytics.services import forecasts

pytestmark = pytest.mark.django_db


def test_backtest_prefers_the_seasonal_naive_on_a_pure_weekly_pattern():
    pattern = [20, 22, 25, 21, 18, 8, 0]
    series = [float(pattern[i % 7]) for i in range(140)]
    naive = forecasts.backtest(series, "seasonal_naive")
    assert naive["daily_mape"] == 0.0 and naive["weekly_mape"] == 0.0
    assert all(e == 0 for e in naive["weekly_errors"]) and len(naive["weekly_errors"]) == 12


def test_backtest_prefers_holt_winters_on_a_noisy_series():
    import random

    rng = random.Random(4)
    pattern = [20, 22, 25, 21, 18, 8, 2]
    # Last week's noise is all the naive forecast knows; smoothing averages it out.
    series = [max(0.0, pattern[i % 7] + rng.gauss(0, 5)) for i in range(140)]
    results = {m: forecasts.backtest(series, m) for m in forecasts.METHODS}
    assert forecasts._better(results, "weekly_mape") == "holt_winters"


def _facts(days: int, today, per_day=lambda i: 10):
    VisitFact.objects.bulk_create(
        VisitFact(
            day=today - timedelta(days=days - i),
            visit_kind="medical" if i % 5 else "dental",
            patient_type="student",
            unit="",
            sex="F",
            age_band="18-24",
            visits=per_day(i),
        )
        for i in range(days)
    )


def test_forecasts_are_stored_with_intervals_and_backtest_errors():
    today = timezone.localdate()
    _facts(200, today, per_day=lambda i: [20, 22, 25, 21, 18, 8, 0][i % 7] + (i % 3))
    forecasts.visit_forecast_compute(today=today)
    summary = ForecastSummary.objects.get(kind="all", granularity="week")
    assert summary.method in ("holt_winters", "seasonal_naive")
    assert (
        summary.mape is not None and summary.naive_mape is not None and summary.ets_mape is not None
    )
    assert summary.mape == min(summary.naive_mape, summary.ets_mape)
    weekly = list(VisitForecast.objects.filter(kind="all", granularity="week"))
    daily = list(VisitForecast.objects.filter(kind="all", granularity="day"))
    assert len(weekly) == 8 and len(daily) == 56
    assert weekly[0].period_start.weekday() == 6 and weekly[0].period_start > today
    for f in weekly + daily:
        assert 0 <= f.low80 <= f.expected + 1e-6 <= f.high80 + 2e-6
    # Recomputing replaces, never duplicates.
    forecasts.visit_forecast_compute(today=today)
    assert VisitForecast.objects.filter(kind="all", granularity="week").count() == 8


def test_short_history_is_marked_insufficient():
    today = timezone.localdate()
    _facts(20, today)
    forecasts.visit_forecast_compute(today=today)
    assert ForecastSummary.objects.get(kind="all", granularity="day").method == "insufficient"
    assert not VisitForecast.objects.exists()


def test_stock_out_date_counts_orders(db):
    from inventory.models import Item
    from tests.inventory.factories import ItemFactory, receive

    today = timezone.localdate()
    item = ItemFactory()
    receive(item, quantity=100)
    idle = ItemFactory()
    receive(idle, quantity=5)
    StockFact.objects.bulk_create(
        StockFact(
            day=today - timedelta(days=d),
            item=item,
            dispensed=Decimal(4 if d <= 28 else 2),
            closing=0,
        )
        for d in range(1, 57)
    )
    Item.objects.filter(pk=item.pk).update(stock_on_order=Decimal("40"))
    forecasts.stock_forecast_compute(today=today)
    row = StockForecast.objects.get(item=item)
    assert row.daily_use == Decimal("4.000")
    assert row.days_left == 25 and row.runs_out_on == today + timedelta(days=25)
    assert row.days_left_with_orders == 35
    assert row.reorder_by == row.runs_out_on - timedelta(days=item.preferred_vendor.lead_time_days)
    assert math.isclose(row.backtest_error_pct, 50.0)
    assert StockForecast.objects.get(item=idle).days_left is None


def test_same_week_last_year_wins_once_the_calendar_repeats():
    """With two years of a semester break that the weekly pattern alone cannot predict,
    the same-week-last-year candidate backtests best."""
    pattern = [20, 22, 25, 21, 18, 8, 0]
    n = 2 * 364 + 14
    # A break in the 12 weeks before the end of each year (the backtest window).
    series = [
        float(pattern[i % 7] // (4 if (i % 364) in range(364 - 70, 364 - 28) else 1))
        for i in range(n)
    ]
    results = {m: forecasts.backtest(series, m) for m in forecasts.METHODS}
    assert results["last_year"]["weekly_mape"] == 0.0
    assert forecasts._better(results, "weekly_mape") == "last_year"
    short = forecasts.backtest(series[:400], "last_year")
    assert short["weekly_mape"] is None  # too few origins with a year behind them
