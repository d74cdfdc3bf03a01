"""Monthly rollups: the daily rollups of one calendar month summed per item (stock), and
those summed over every item, and per diagnosis cell (code and patient dimensions), so a
page over a quarter or a year reads a few rows per item or cell (or one per month) instead
of one per item (cell) and day.

They are derived from the daily rows only, in the same transaction that refreshes those
days (``rollup_refresh_range``): every month touched by the refreshed days is summed again
from its daily rows (rows whose sums changed are updated, rows left without daily rows
deleted), so a month row always equals the sum of the daily rows it covers (a month still
in progress covers the days rolled up so far).
"""

from __future__ import annotations

from datetime import date, timedelta

_STOCK_MEASURES = (
    "days, moved_days, received, dispensed, dispensed_value, expired, expired_value, "
    "returned, disposed_other, patient_returns, adjusted, closing_sum, stockout_days"
)

# Upserted, and only the rows whose sums changed are written: a refresh every few minutes
# rewrites the items that moved that day, not the month's five thousand rows.
STOCK_MONTH_SQL = f"""
INSERT INTO analytics_stockmonthfact (month, item_id, {_STOCK_MEASURES})
SELECT date_trunc('month', day::timestamp)::date, item_id, COUNT(*),
    COUNT(*) FILTER (WHERE dispensed <> 0 OR patient_returns <> 0 OR expired_value <> 0),
    SUM(received), SUM(dispensed), SUM(dispensed_value), SUM(expired), SUM(expired_value),
    SUM(returned), SUM(disposed_other), SUM(patient_returns), SUM(adjusted), SUM(closing),
    COUNT(*) FILTER (WHERE closing <= 0)
FROM analytics_stockfact
WHERE day >= %(first)s AND day < %(after)s
GROUP BY 1, 2
ON CONFLICT ON CONSTRAINT analytics_stockmonthfact_one_per_month DO UPDATE
SET ({_STOCK_MEASURES}) = (
    EXCLUDED.days, EXCLUDED.moved_days, EXCLUDED.received, EXCLUDED.dispensed,
    EXCLUDED.dispensed_value, EXCLUDED.expired, EXCLUDED.expired_value, EXCLUDED.returned,
    EXCLUDED.disposed_other, EXCLUDED.patient_returns, EXCLUDED.adjusted,
    EXCLUDED.closing_sum, EXCLUDED.stockout_days)
WHERE ({", ".join("analytics_stockmonthfact." + m for m in _STOCK_MEASURES.split(", "))})
    IS DISTINCT FROM (
    EXCLUDED.days, EXCLUDED.moved_days, EXCLUDED.received, EXCLUDED.dispensed,
    EXCLUDED.dispensed_value, EXCLUDED.expired, EXCLUDED.expired_value, EXCLUDED.returned,
    EXCLUDED.disposed_other, EXCLUDED.patient_returns, EXCLUDED.adjusted,
    EXCLUDED.closing_sum, EXCLUDED.stockout_days)
"""  # noqa: S608 (constant fragments)

# An item's month row whose daily rows are all gone.
STOCK_MONTH_STALE_SQL = """
DELETE FROM analytics_stockmonthfact m
WHERE m.month >= %(first)s AND m.month < %(after)s
  AND NOT EXISTS (
    SELECT 1 FROM analytics_stockfact f
    WHERE f.item_id = m.item_id AND f.day >= m.month AND f.day < (m.month + interval '1 month')
  )
"""

STOCK_TOTAL_DELETE_SQL = """
DELETE FROM analytics_stockmonthtotal WHERE month >= %(first)s AND month < %(after)s
"""
STOCK_TOTAL_SQL = """
INSERT INTO analytics_stockmonthtotal (month, dispensed_value)
SELECT month, SUM(dispensed_value) FROM analytics_stockmonthfact
WHERE month >= %(first)s AND month < %(after)s
GROUP BY month
"""

# Diagnoses: a month has a few hundred cells, rewritten whole.
DIAGNOSIS_MONTH_DELETE_SQL = """
DELETE FROM analytics_diagnosismonthfact WHERE month >= %(first)s AND month < %(after)s
"""
DIAGNOSIS_MONTH_SQL = """
INSERT INTO analytics_diagnosismonthfact (month, icd10_code, visit_kind, provider_id,
    patient_type, unit, sex, age_band, diagnoses, primary_diagnoses)
SELECT date_trunc('month', day::timestamp)::date, icd10_code, visit_kind, provider_id,
    patient_type, unit, sex, age_band, SUM(diagnoses), SUM(primary_diagnoses)
FROM analytics_diagnosisfact
WHERE day >= %(first)s AND day < %(after)s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""

# In this order: the totals are summed from the month rows just made.
MONTHLY = (
    STOCK_MONTH_SQL,
    STOCK_MONTH_STALE_SQL,
    STOCK_TOTAL_DELETE_SQL,
    STOCK_TOTAL_SQL,
    DIAGNOSIS_MONTH_DELETE_SQL,
    DIAGNOSIS_MONTH_SQL,
)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def months_refresh(cursor, *, first: date, last: date) -> None:
    """Recompute the monthly rows of every month that has a day in ``first``…``last`` from
    the daily rows (run inside the daily refresh's transaction, after it)."""
    params = {"first": month_start(first), "after": next_month(last)}
    for sql in MONTHLY:
        cursor.execute(sql, params)
