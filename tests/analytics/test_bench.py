"""The analytics benchmark generates data idempotently and every case runs (tiny scale)."""

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from analytics import bench
from analytics.models import AberrationSignal, DiagnosisFact, VisitFact
from analytics.services.rollups import first_data_day, rollup_rebuild
from appointments import bench as appointments_bench
from patients.models import Visit
from uscpis.bench import run_case

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _rollup_totals() -> dict:
    totals = VisitFact.objects.aggregate(visits=Sum("visits"), appointments=Sum("appointments"))
    totals |= DiagnosisFact.objects.aggregate(diagnoses=Sum("diagnoses"))
    return totals


def test_generate_tops_up_and_every_case_runs():
    call_command("seed_demo", stdout=io.StringIO())
    # The seeded year of history includes a dengue outbreak the detector flags.
    assert AberrationSignal.objects.filter(group__slug="dengue").exists()
    appointments_bench.generate({"appointments": 3000}, io.StringIO())  # some in the past
    bench.generate({"visits": 100}, io.StringIO())
    bench_visits = Visit.objects.filter(appointment_ref__startswith="bench:")
    assert bench_visits.count() == 100
    bench.generate({"visits": 100}, io.StringIO())
    assert bench_visits.count() == 100  # idempotent
    assert VisitFact.objects.exists()
    # The rollups count what the generators added, not only the seed they found: a full
    # rebuild afterwards changes no figure.
    generated = _rollup_totals()
    rollup_rebuild(since=first_data_day(), until=timezone.localdate())
    assert _rollup_totals() == generated
    assert generated["visits"] >= bench_visits.count()
    for case in bench.CASES:
        result = run_case(case, 1, warmup=0)
        assert result.runs == 1 and result.queries >= 1, case.name
