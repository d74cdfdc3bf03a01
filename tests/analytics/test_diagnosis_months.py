"""The monthly diagnosis rollup equals the sums of the daily rows it covers, a refresh keeps
it so, and the diagnoses page's counts read through it (whole months, parts of months at
either end, one day, the current month, with and without filters) are exactly the sums of
the daily rows of the range."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection

from analytics.models import DiagnosisFact, DiagnosisMonthFact
from analytics.selectors.common import Filters
from analytics.selectors.diagnoses import code_counts, diagnosis_counts
from analytics.services.monthly import months_refresh
from analytics.services.rollups import rollup_refresh_day
from tests.analytics.test_month_rollups import START, TODAY, _ranges

pytestmark = pytest.mark.django_db

DIMS = ("icd10_code", "visit_kind", "provider_id", "patient_type", "unit", "sex", "age_band")


@pytest.fixture
def diagnosis_days(db):
    """Daily diagnosis rows over about a hundred days in many cells (as the daily refresh
    writes them), then the months summed as the refresh does."""
    rng = random.Random(11)
    rows = {}
    for d in range(101):
        day = START + timedelta(days=d)
        for _ in range(rng.randint(0, 6)):
            cell = (
                rng.choice(["J06.9", "A09", "I10", "K02.1"]),
                rng.choice(["medical", "dental"]),
                None,
                rng.choice(["student", "employee"]),
                rng.choice(["School of Engineering", "Finance Office", ""]),
                rng.choice(["F", "M"]),
                rng.choice(["18-24", "25-34"]),
            )
            n = rng.randint(1, 4)
            rows[(day, cell)] = (n, rng.randint(0, n))
    DiagnosisFact.objects.bulk_create(
        DiagnosisFact(
            day=day, **dict(zip(DIMS, cell, strict=True)), diagnoses=n, primary_diagnoses=p
        )
        for (day, cell), (n, p) in rows.items()
    )
    with connection.cursor() as cursor:
        months_refresh(cursor, first=START, last=TODAY)


def _month_sums():
    expected = defaultdict(lambda: [0, 0])
    for r in DiagnosisFact.objects.all():
        cell = expected[(r.day.replace(day=1), *(getattr(r, d) for d in DIMS))]
        cell[0] += r.diagnoses
        cell[1] += r.primary_diagnoses
    return {k: tuple(v) for k, v in expected.items()}


def _months():
    return {
        (m.month, *(getattr(m, d) for d in DIMS)): (m.diagnoses, m.primary_diagnoses)
        for m in DiagnosisMonthFact.objects.all()
    }


def _daily_counts(f):
    codes, units = defaultdict(int), defaultdict(int)
    for r in DiagnosisFact.objects.filter(f.q()):
        codes[r.icd10_code] += r.diagnoses
        units[r.unit] += r.diagnoses
    return (
        sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])),
        sorted(units.items(), key=lambda kv: (-kv[1], kv[0])),
    )


def test_month_rows_are_the_sums_of_their_daily_rows(diagnosis_days):
    expected = _month_sums()
    assert len({k[0] for k in expected}) >= 4
    assert _months() == expected


def test_every_range_equals_its_daily_rows(diagnosis_days):
    filters = [{}, {"sex": "F"}, {"patient_type": "employee", "age_band": "18-24"}]
    filters.append({"unit": "Finance Office"})
    for first, last in _ranges():
        for extra in filters:
            f = Filters(first, last, **extra)
            expected = _daily_counts(f)
            assert diagnosis_counts(f) == expected, (first, last, extra)
            assert code_counts(f) == expected[0]
    assert diagnosis_counts(Filters(START, TODAY))[0]


def test_a_refreshed_day_shows_in_its_month(diagnosis_days):
    # The refresh recomputes the day from the visits (there are none): its hand-written
    # daily rows go, and its month is summed again.
    day = TODAY - timedelta(days=40)
    gone = sum(DiagnosisFact.objects.filter(day=day).values_list("diagnoses", flat=True))
    assert gone
    f = Filters(day.replace(day=1), TODAY)
    before = sum(n for _, n in diagnosis_counts(f)[0])
    rollup_refresh_day(day=day)
    assert not DiagnosisFact.objects.filter(day=day).exists()
    assert _months() == _month_sums()
    assert sum(n for _, n in diagnosis_counts(f)[0]) == before - gone
