"""The visit rollup read once per page: one statement returns the day totals of every range the
overview or the visits page shows (the period and the same weeks last year, today and this
week), and, for the visits page, the period's breakdowns (``GROUPING SETS``), instead of a
scan of ``analytics_visitfact`` per figure. The figures are the same sums of the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import connection

MEASURES = ("visits", "completed", "no_shows", "booked_minutes", "appointments", "cancelled")
MEASURES += ("walk_ins",)
DIMS = ("unit", "patient_type", "age_band", "sex", "visit_kind")
_FILTERS = ("patient_type", "unit", "sex", "age_band")


@dataclass
class VisitDays:
    """Day totals (``days[day][measure]``) of the ranges asked for, and the period's
    breakdowns (``by[dim]``: (value, visits) with visits > 0), when asked for."""

    days: dict[date, dict[str, int]] = field(default_factory=dict)
    by: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def total(self, first: date, last: date, measure: str = "visits") -> int:
        return sum(row[measure] for day, row in self.days.items() if first <= day <= last)

    def per_day(self, first: date, last: date, measure: str = "visits") -> dict[date, int]:
        return {day: row[measure] for day, row in self.days.items() if first <= day <= last}


def visit_days(f, ranges: list[tuple[date, date]], *, breakdowns: bool = False) -> VisitDays:
    """The rollup's day totals for each of ``ranges`` (under ``f``'s provider and demographic
    filters), in one statement; with ``breakdowns``, also the visits of ``f``'s period by
    each of ``DIMS``."""

    where = ["(" + " OR ".join("day BETWEEN %s AND %s" for _ in ranges) + ")"]
    params: list = [d for r in ranges for d in r]
    if f.provider_id:
        where.append("provider_id = %s")
        params.append(f.provider_id)
    for name in _FILTERS:
        if getattr(f, name):
            where.append(f"{name} = %s")
            params.append(getattr(f, name))
    sums = ", ".join(f"SUM({m})" for m in MEASURES)
    if breakdowns:
        sql = (
            f"SELECT GROUPING({', '.join(DIMS)}), day, {', '.join(DIMS)}, {sums}, "  # noqa: S608
            "SUM(visits) FILTER (WHERE day BETWEEN %s AND %s) "
            f"FROM analytics_visitfact WHERE {' AND '.join(where)} "
            f"GROUP BY GROUPING SETS ((day), {', '.join(f'({d})' for d in DIMS)})"
        )
        params = [f.date_from, f.date_to, *params]
    else:
        sql = (
            f"SELECT {(1 << len(DIMS)) - 1}, day, {', '.join('NULL' for _ in DIMS)}, {sums}, NULL "  # noqa: S608
            f"FROM analytics_visitfact WHERE {' AND '.join(where)} GROUP BY day"
        )
    out = VisitDays(by={dim: [] for dim in DIMS} if breakdowns else {})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    n_dims = len(DIMS)
    for row in rows:
        grouping, day = row[0], row[1]
        if day is not None and grouping == (1 << n_dims) - 1:
            out.days[day] = {m: v or 0 for m, v in zip(MEASURES, row[2 + n_dims : -1], strict=True)}
            continue
        if day is not None or not breakdowns:
            continue
        for i, dim in enumerate(DIMS):
            if not grouping & (1 << (n_dims - 1 - i)):  # grouped by this dimension
                if row[-1]:
                    out.by[dim].append((row[2 + i], row[-1]))
                break
    for values in out.by.values():
        values.sort(key=lambda r: (-r[1], r[0]))
    return out
