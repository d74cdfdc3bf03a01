"""Monthly rollups: the daily rollups of one calendar month summed per item (stock), and
those summed over every item, so a page over a quarter or a year reads a few rows per item
(or one per month) instead of one per item and day.

They are derived from the daily rows only, in the same transaction that refreshes those
days (``rollup_refresh_range``): every month touched by the refreshed days is deleted and
summed again from its daily rows, so a month row always equals the sum of the daily rows
it covers (a month still in progress covers the days rolled up so far).
"""

from __future__ import annotations

from datetime import date, timedelta

STOCK_MONTH_SQL = """
INSERT INTO analytics_stockmonthfact (
    month, item_id, days, moved_days, received, dispensed, dispensed_value, expired,
    expired_value, returned, disposed_other, patient_returns, adjusted, closing_sum,
    stockout_days)
SELECT date_trunc('month', day::timestamp)::date, item_id, COUNT(*),
    COUNT(*) FILTER (WHERE dispensed <> 0 OR patient_returns <> 0 OR expired_value <> 0),
    SUM(received), SUM(dispensed), SUM(dispensed_value), SUM(expired), SUM(expired_value),
    SUM(returned), SUM(disposed_other), SUM(patient_returns), SUM(adjusted), SUM(closing),
    COUNT(*) FILTER (WHERE closing <= 0)
FROM analytics_stockfact
WHERE day >= %(first)s AND day < %(after)s
GROUP BY 1, 2
"""

STOCK_TOTAL_SQL = """
INSERT INTO analytics_stockmonthtotal (month, dispensed_value)
SELECT month, SUM(dispensed_value) FROM analytics_stockmonthfact
WHERE month >= %(first)s AND month < %(after)s
GROUP BY month
"""

# In this order: the totals are summed from the month rows just made.
MONTHLY = (
    ("analytics_stockmonthfact", STOCK_MONTH_SQL),
    ("analytics_stockmonthtotal", STOCK_TOTAL_SQL),
)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def months_refresh(cursor, *, first: date, last: date) -> None:
    """Recompute the monthly rows of every month that has a day in ``first``…``last`` from
    the daily rows (run inside the daily refresh's transaction, after it)."""
    params = {"first": month_start(first), "after": next_month(last)}
    for table, sql in MONTHLY:
        cursor.execute(
            f"DELETE FROM {table} WHERE month >= %(first)s AND month < %(after)s",  # noqa: S608
            params,
        )
        cursor.execute(sql, params)
