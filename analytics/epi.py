"""Epidemiological weeks and the CDC EARS aberration methods (pure functions, no database).

Morbidity weeks follow the MMWR convention that the Philippine PIDSR weekly reports also
use: weeks run Sunday to Saturday, and week 1 is the first such week with at least four
days in the calendar year (so 29 Dec–4 Jan can belong to either year).

EARS (Hutwagner et al., 2003) on a daily count series x:

* C1: baseline = the 7 days before t; C1 = (x_t − mean) / max(sd, MIN_SIGMA); flag > 3.
* C2: the same with a 2-day guard band (baseline t−9…t−3); flag > 3.
* C3: the sum of max(0, C2 − 1) over t, t−1, t−2; flag > 2.

Weekly counts use a seasonal baseline (CDC "historical limits"): the threshold of week w
is mean + 3 sd (sd ≥ √mean) of weeks w−2…w+2 of up to five earlier years; a week whose
count exceeds it is flagged (``weekly_flag``).

``MIN_SIGMA`` keeps a flat baseline (sd 0, common with sparse counts) from turning a single
case into an infinite statistic; a syndrome's ``min_cases`` adds a floor in counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

MIN_SIGMA = 1.0
C1_C2_LIMIT = 3.0
C3_LIMIT = 2.0


def _week1_start(year: int) -> date:
    jan1 = date(year, 1, 1)
    sunday_offset = (jan1.weekday() + 1) % 7  # days since the Sunday on or before 1 Jan
    start = jan1 - timedelta(days=sunday_offset)
    return start + timedelta(days=7) if sunday_offset > 3 else start


def epi_week(day: date) -> tuple[int, int]:
    """(epidemiological year, week number 1–53) of ``day``."""
    year = day.year
    if day >= _week1_start(year + 1):
        return year + 1, 1
    start = _week1_start(year)
    if day < start:
        year -= 1
        start = _week1_start(year)
    return year, (day - start).days // 7 + 1


def epi_week_start(day: date) -> date:
    """The Sunday that starts ``day``'s epidemiological week."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


@dataclass(frozen=True)
class EarsDay:
    index: int
    count: int
    c1: float | None
    c2: float | None
    c3: float | None
    threshold: float | None  # the C2 count threshold (mean + 3 sd of its baseline)

    @property
    def methods(self) -> list[str]:
        flagged = []
        if self.c1 is not None and self.c1 > C1_C2_LIMIT:
            flagged.append("C1")
        if self.c2 is not None and self.c2 > C1_C2_LIMIT:
            flagged.append("C2")
        if self.c3 is not None and self.c3 > C3_LIMIT:
            flagged.append("C3")
        return flagged


def ears(counts: list[int], *, min_sigma: float = MIN_SIGMA) -> list[EarsDay]:
    """EARS C1/C2/C3 for every day of ``counts`` (None where the baseline is too short)."""
    c2s: list[float | None] = []
    result = []
    for t, x in enumerate(counts):
        c1 = c2 = c3 = threshold = None
        if t >= 7:
            mean, sd = _mean_sd(counts[t - 7 : t])
            c1 = (x - mean) / max(sd, min_sigma)
        if t >= 9:
            mean, sd = _mean_sd(counts[t - 9 : t - 2])
            c2 = (x - mean) / max(sd, min_sigma)
            threshold = mean + C1_C2_LIMIT * max(sd, min_sigma)
        c2s.append(c2)
        if t >= 11 and all(v is not None for v in c2s[t - 2 : t + 1]):
            c3 = sum(max(0.0, v - 1) for v in c2s[t - 2 : t + 1])
        result.append(EarsDay(t, x, c1, c2, c3, threshold))
    return result


WEEKLY_SD_LIMIT = 3.0


def weekly_baseline(
    history: dict[tuple[int, int], int], year: int, week: int, *, years: int = 5
) -> float | None:
    """Seasonal (historical-limits) threshold for (year, week): mean + 3 sd of weeks
    week−2…week+2 in up to ``years`` earlier years, the sd taken as at least √mean (Poisson
    noise: a run of similar years must not make any small rise a signal) and at least
    ``MIN_SIGMA``; None without at least 3 such weeks. Three sd rather than the figure's
    usual two keep false alarms near one per syndrome per decade on Poisson-like counts."""
    values = []
    for back in range(1, years + 1):
        for offset in range(-2, 3):
            key = (year - back, week + offset)
            if key in history:
                values.append(history[key])
    if len(values) < 3:
        return None
    mean, sd = _mean_sd(values)
    return mean + WEEKLY_SD_LIMIT * max(sd, math.sqrt(mean), MIN_SIGMA)


@dataclass(frozen=True)
class WeekStat:
    year: int
    week: int
    count: int
    threshold: float | None

    @property
    def flagged(self) -> bool:
        return self.threshold is not None and self.count > self.threshold


def weekly_flag(history: dict[tuple[int, int], int], year: int, week: int) -> WeekStat:
    """The count of (year, week) against its historical-limits threshold."""
    return WeekStat(year, week, history.get((year, week), 0), weekly_baseline(history, year, week))
