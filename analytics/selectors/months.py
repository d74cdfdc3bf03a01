"""Reading a date range from a daily rollup and its monthly sums.

A range is cut at month boundaries: months it covers whole are read from the monthly rows;
for a month it covers in part, either the covered days' daily rows are added, or the whole
month is read and the daily rows of its other days are subtracted, whichever reads fewer
days (days after today have no rows, so the unfinished part of the current month costs
nothing). The figures are exactly the sums of the daily rows of the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone

from analytics.services.monthly import next_month


@dataclass
class MonthSplit:
    months: list[date] = field(default_factory=list)  # monthly rows to add (first days)
    plus: list[date] = field(default_factory=list)  # days whose daily rows are added
    minus: list[date] = field(default_factory=list)  # days whose daily rows are subtracted

    @property
    def params(self) -> dict:
        return {"months": self.months, "plus": self.plus, "minus": self.minus}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def split_range(first: date, last: date, *, today: date | None = None) -> MonthSplit:
    """Which monthly rows and which daily rows (added or subtracted) make ``first``…``last``."""
    today = today or timezone.localdate()
    split = MonthSplit()
    month = first.replace(day=1)
    while month <= last:
        month_last = next_month(month) - timedelta(days=1)
        lo, hi = max(first, month), min(last, month_last)
        inside = _days(lo, hi)
        outside = [d for d in _days(month, month_last) if d < lo or d > hi]
        # Days after today have no daily rows yet: subtracting them reads nothing.
        if not outside:
            split.months.append(month)
        elif len([d for d in outside if d <= today]) < len(inside):
            split.months.append(month)
            split.minus.extend(outside)
        else:
            split.plus.extend(inside)
        month = next_month(month)
    return split
