"""Stock figures over a date range for the inventory and financial pages, from the monthly
stock rollup plus the daily rows of partly covered months (``analytics.selectors.months``):
the same sums as the daily rows of the range, reading a few rows per item."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection

from analytics.selectors.months import split_range

# The days an item moved (dispensed, came back or expired): the partial index
# ``analytics_stockfact_moved_idx`` covers exactly these daily rows.
MOVED = "(dispensed <> 0 OR patient_returns <> 0 OR expired_value <> 0)"


def _moved_rows(where: str = "") -> str:
    """The rows of the days (months) items moved in the range, with ``sign`` +1 (a month
    row counts its moved days) or -1 for the days subtracted from a month; ``where`` narrows
    them further (e.g. to some items)."""
    return f"""
    SELECT item_id, moved_days AS moved, dispensed, patient_returns, dispensed_value,
        expired_value
    FROM analytics_stockmonthfact
    WHERE month = ANY(%(months)s::date[]) AND moved_days > 0 {where}
    UNION ALL
    SELECT item_id, 1, dispensed, patient_returns, dispensed_value, expired_value
    FROM analytics_stockfact WHERE day = ANY(%(plus)s::date[]) AND {MOVED} {where}
    UNION ALL
    SELECT item_id, -1, -dispensed, -patient_returns, -dispensed_value, -expired_value
    FROM analytics_stockfact WHERE day = ANY(%(minus)s::date[]) AND {MOVED} {where}"""  # noqa: S608


# Per item that moved: quantity used (dispensed less patient returns), value dispensed and
# value written off as expired.
MOVED_SQL = f"""
SELECT item_id, SUM(dispensed - patient_returns), SUM(dispensed_value), SUM(expired_value)
FROM ({_moved_rows("AND (%(ids)s::bigint[] IS NULL OR item_id = ANY(%(ids)s::bigint[]))")})
    AS moved
GROUP BY item_id HAVING SUM(moved) > 0
"""  # noqa: S608

# The inventory page's ranking over every item that moved, summed and ranked in the
# database with only the quantity used (numeric sums cost CPU per row): the top items and
# the quantity used per category, a few dozen rows back instead of one per item.
SUMMARY_SQL = f"""
WITH moved AS MATERIALIZED (
    SELECT item_id, SUM(dispensed - patient_returns) AS used
    FROM ({_moved_rows()}) AS moved
    GROUP BY item_id HAVING SUM(moved) > 0
)
(SELECT 'top', item_id, NULL, used FROM moved ORDER BY used DESC, item_id LIMIT %(top)s)
UNION ALL
SELECT 'category', NULL, c.name, per_category.used
FROM (
    -- Summed per category id, then named: a dozen rows joined to the categories, not
    -- every item joined and grouped by name (consumption_summary adds up categories
    -- that share a name).
    SELECT i.category_id, SUM(m.used) AS used
    FROM moved m LEFT JOIN inventory_item i ON i.id = m.item_id
    GROUP BY i.category_id
) AS per_category
LEFT JOIN inventory_category c ON c.id = per_category.category_id
"""  # noqa: S608

# Items with expiry losses in the range (only the rows with a write-off are summed).
LOSSES_SQL = f"""
SELECT item_id FROM ({_moved_rows("AND expired_value <> 0")}) AS moved
GROUP BY item_id HAVING SUM(expired_value) <> 0
"""  # noqa: S608

LEVELS_SQL = """
SELECT item_id, SUM(closing), SUM(stockouts)
FROM (
    SELECT item_id, closing_sum AS closing, stockout_days AS stockouts
    FROM analytics_stockmonthfact
    WHERE month = ANY(%(months)s::date[]) AND item_id = ANY(%(ids)s::bigint[])
    UNION ALL
    SELECT item_id, closing, (closing <= 0)::int
    FROM analytics_stockfact WHERE day = ANY(%(plus)s::date[]) AND item_id = ANY(%(ids)s::bigint[])
    UNION ALL
    SELECT item_id, -closing, -(closing <= 0)::int
    FROM analytics_stockfact WHERE day = ANY(%(minus)s::date[]) AND item_id = ANY(%(ids)s::bigint[])
) AS levels
GROUP BY item_id
"""

DISPENSED_VALUE_SQL = """
SELECT COALESCE((SELECT SUM(dispensed_value) FROM analytics_stockmonthtotal
                 WHERE month = ANY(%(months)s::date[])), 0)
     + COALESCE((SELECT SUM(dispensed_value) FROM analytics_stockfact
                 WHERE day = ANY(%(plus)s::date[]) AND dispensed_value <> 0), 0)
     - COALESCE((SELECT SUM(dispensed_value) FROM analytics_stockfact
                 WHERE day = ANY(%(minus)s::date[]) AND dispensed_value <> 0), 0)
"""


def moved_per_item(first: date, last: date, item_ids: list[int] | None = None) -> list[dict]:
    """Every item that moved in ``first``…``last`` (or those of ``item_ids``): ``used``
    (dispensed less patient returns), ``value`` (dispensed, PHP) and ``expired`` (written
    off, PHP)."""
    params = {**split_range(first, last).params, "ids": item_ids}
    with connection.cursor() as cursor:
        cursor.execute(MOVED_SQL, params)
        return [
            {"item_id": item_id, "used": used, "value": value, "expired": expired}
            for item_id, used, value, expired in cursor.fetchall()
        ]


def consumption_summary(first: date, last: date, *, top: int) -> dict:
    """Of the items that moved in ``first``…``last``: the ``top`` items by quantity used
    (ties by id), every item with expiry losses (most lost first, then most used) and the
    quantity used per category name ("(none)" for items without one); items as
    ``moved_per_item`` rows."""
    params = split_range(first, last).params
    categories: dict[str, float] = {}
    top_ids = []
    with connection.cursor() as cursor:
        cursor.execute(SUMMARY_SQL, {**params, "top": top})
        for part, item_id, category, used in cursor.fetchall():
            if part == "top":
                top_ids.append(item_id)
            else:
                name = category or "(none)"
                categories[name] = categories.get(name, 0) + float(used or 0)
        cursor.execute(LOSSES_SQL, params)
        loss_ids = [item_id for (item_id,) in cursor.fetchall()]
    rows = (
        {r["item_id"]: r for r in moved_per_item(first, last, [*top_ids, *loss_ids])}
        if top_ids or loss_ids
        else {}
    )
    return {
        "top": sorted(
            (rows[i] for i in top_ids if i in rows), key=lambda r: (-r["used"], r["item_id"])
        ),
        "losses": sorted(
            (rows[i] for i in loss_ids if i in rows),
            key=lambda r: (-r["expired"], -r["used"], r["item_id"]),
        ),
        "categories": categories,
    }


def stock_levels(first: date, last: date, item_ids: list[int]) -> dict[int, dict]:
    """Per item of ``item_ids`` with a daily row in the range: ``closing_sum`` (the sum of
    its closing quantities) and ``stockout_days`` (days that closed at zero or below)."""
    if not item_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(LEVELS_SQL, {**split_range(first, last).params, "ids": list(item_ids)})
        return {
            item_id: {"closing_sum": closing, "stockout_days": int(stockouts)}
            for item_id, closing, stockouts in cursor.fetchall()
        }


def dispensed_value(first: date, last: date) -> Decimal:
    """The cost of everything dispensed in ``first``…``last`` (PHP)."""
    with connection.cursor() as cursor:
        cursor.execute(DISPENSED_VALUE_SQL, split_range(first, last).params)
        return cursor.fetchone()[0] or Decimal(0)
