"""The overview and visits pages read the visit rollup once (``visit_days``: day totals of
every range shown and the period's breakdowns in one statement); every figure equals the sum
of the rollup rows it covers, computed here row by row, with and without filters, over
ranges shorter and longer than a year (last year's weeks then overlap the period)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.epi import epi_week_start
from analytics.models import VisitFact
from analytics.selectors import dashboards
from analytics.selectors.common import YEAR, Filters
from appointments.models import AppointmentStatus
from tests.analytics.factories import local
from tests.appointments.factories import AppointmentFactory, ProviderFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
UNITS = ["School of Engineering", "School of Arts", ""]


@pytest.fixture
def facts(db):
    rng = random.Random(11)
    providers = [UserFactory(), UserFactory()]
    rows = []
    for back in range(0, 800, 3):
        day = TODAY - timedelta(days=back)
        for _ in range(rng.randint(0, 3)):
            rows.append(
                VisitFact(
                    day=day,
                    provider=rng.choice(providers),
                    visit_kind=rng.choice(["medical", "dental"]),
                    patient_type=rng.choice(["student", "employee"]),
                    unit=rng.choice(UNITS),
                    sex=rng.choice(["F", "M"]),
                    age_band=rng.choice(["18-24", "25-44", "65+"]),
                    visits=rng.choice([0, 1, 2, 5]),
                    appointments=rng.randint(0, 6),
                    cancelled=rng.randint(0, 1),
                    walk_ins=rng.randint(0, 2),
                    completed=rng.randint(0, 4),
                    no_shows=rng.randint(0, 2),
                    booked_minutes=rng.randint(0, 90),
                )
            )
    VisitFact.objects.bulk_create(rows, ignore_conflicts=True)
    return {"rows": list(VisitFact.objects.all()), "providers": providers}


def _matches(row, f: Filters, shift=timedelta(0)) -> bool:
    if not f.date_from - shift <= row.day <= f.date_to - shift:
        return False
    if f.provider_id and row.provider_id != f.provider_id:
        return False
    return all(
        getattr(row, name) == getattr(f, name)
        for name in ("patient_type", "unit", "sex", "age_band")
        if getattr(f, name)
    )


def _chart(charts, chart_id):
    return next(c for c in charts if c.id == chart_id)


def _filters(facts):
    return [
        Filters(TODAY - timedelta(days=181), TODAY),
        Filters(TODAY - timedelta(days=83), TODAY, unit="School of Engineering"),
        Filters(TODAY - timedelta(days=500), TODAY - timedelta(days=20), sex="F"),
        Filters(
            TODAY - timedelta(days=90),
            TODAY,
            provider_id=facts["providers"][0].pk,
            patient_type="student",
            age_band="18-24",
        ),
    ]


def test_visits_charts_equal_the_row_sums(facts):
    for f in _filters(facts):
        now = [r for r in facts["rows"] if _matches(r, f)]
        before = [r for r in facts["rows"] if _matches(r, f, shift=YEAR)]
        with CaptureQueriesContext(connection) as queries:
            charts = dashboards.visits_charts(f)
        assert len(queries) == 1  # one read of the rollup for every chart

        weekly = _chart(charts, "visits-weekly")
        expected = defaultdict(lambda: [0, 0])
        for r in now:
            expected[epi_week_start(r.day)][0] += r.visits
        for r in before:
            expected[epi_week_start(r.day + YEAR)][1] += r.visits
        weeks = []
        week = epi_week_start(f.date_from)
        while week <= f.date_to:
            weeks.append(week)
            week += timedelta(days=7)
        assert [row[1:] for row in weekly.rows] == [expected[w] for w in weeks]

        monthly = defaultdict(lambda: [0, 0])
        for r in now:
            monthly[r.day.replace(day=1)][0] += r.visits
        for r in before:
            monthly[r.day.replace(day=1, year=r.day.year + 1)][1] += r.visits
        months = sorted({r.day.replace(day=1) for r in now})
        assert [row[1:] for row in _chart(charts, "visits-monthly").rows] == [
            monthly[m] for m in months
        ]

        for dim in ("unit", "patient_type", "age_band", "sex", "visit_kind"):
            sums = defaultdict(int)
            for r in now:
                sums[dashboards._dim_label(dim, getattr(r, dim))] += r.visits
            chart = _chart(charts, f"visits-by-{dim.replace('_', '-')}")
            assert {row[0]: row[1] for row in chart.rows} == {k: v for k, v in sums.items() if v}
            if dim != "age_band":
                values = [row[1] for row in chart.rows]
                assert values == sorted(values, reverse=True)

        walk = sum(r.walk_ins for r in now)
        booked = sum(r.appointments - r.cancelled for r in now) - walk
        assert [row[1] for row in _chart(charts, "walk-in-vs-booked").rows] == [booked, walk]


def test_overview_figures_equal_the_row_sums(facts):
    for f in _filters(facts):
        days = dashboards.overview_days(f)
        kpis = {k.label: k for k in dashboards.overview(f, days=days)}
        today = [r for r in facts["rows"] if _matches(r, Filters(TODAY, TODAY, **_dims(f)))]
        week_f = Filters(epi_week_start(TODAY), TODAY, **_dims(f))
        week = [r for r in facts["rows"] if _matches(r, week_f)]
        week_ly = [r for r in facts["rows"] if _matches(r, week_f, shift=YEAR)]
        assert kpis["Visits today"].value == sum(r.visits for r in today)
        assert kpis["Visits this week"].value == sum(r.visits for r in week)
        ly = sum(r.visits for r in week_ly)
        assert (f"{ly:,} last year" in kpis["Visits this week"].detail) == bool(ly)
        now = [r for r in facts["rows"] if _matches(r, f)]
        no_shows = sum(r.no_shows for r in now)
        assert kpis["No-show rate"].detail == f"{no_shows:,} no-shows in the period"
        # The weekly chart from the same read equals the one read on its own.
        assert repr(dashboards.visits_charts(f, weekly_only=True, days=days)) == repr(
            dashboards.visits_charts(f, weekly_only=True)
        )


def _dims(f: Filters) -> dict:
    return {
        "provider_id": f.provider_id,
        "patient_type": f.patient_type,
        "unit": f.unit,
        "sex": f.sex,
        "age_band": f.age_band,
    }


def test_waiting_now_and_median_wait_from_one_read_of_todays_queue(db):
    provider = ProviderFactory()
    other = ProviderFactory()
    today = timezone.localdate()

    def make(hour, status, waited=None, who=provider):
        start = local(today, hour)
        AppointmentFactory(
            provider=who,
            start=start,
            status=status,
            checked_in_at=start if waited is not None or status == "checked_in" else None,
            consultation_started_at=start + timedelta(minutes=waited) if waited else None,
        )

    make(8, AppointmentStatus.COMPLETED, waited=10)
    make(9, AppointmentStatus.COMPLETED, waited=30)
    make(10, AppointmentStatus.IN_CONSULTATION, waited=21)
    make(11, AppointmentStatus.CHECKED_IN)
    make(12, AppointmentStatus.CHECKED_IN)
    make(13, AppointmentStatus.BOOKED)
    make(14, AppointmentStatus.CHECKED_IN, who=other)
    make(15, AppointmentStatus.COMPLETED, waited=50, who=other)
    f = Filters(today - timedelta(days=6), today)
    kpi = {k.label: k for k in dashboards.overview(f)}["Waiting now"]
    assert kpi.value == 3 and kpi.detail == "median wait today 26 min"
    f.provider_id = provider.user_id
    kpi = {k.label: k for k in dashboards.overview(f)}["Waiting now"]
    assert kpi.value == 2 and kpi.detail == "median wait today 21 min"
