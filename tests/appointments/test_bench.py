"""The appointments benchmark generates data idempotently and every case runs (tiny scale)."""

import io

import pytest
from django.core.management import call_command

from appointments import bench
from appointments.models import Appointment
from uscpis.bench import run_case

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_generate_tops_up_and_every_case_runs():
    call_command("seed_demo", stdout=io.StringIO())
    bench.generate({"appointments": 300}, io.StringIO())
    bench_rows = Appointment.objects.filter(provider__user__email__startswith="bench.provider")
    first = bench_rows.count()
    assert 250 <= first <= 300
    bench.generate({"appointments": 300}, io.StringIO())
    assert bench_rows.count() == first  # idempotent
    bench.generate({"appointments": 500}, io.StringIO())
    assert bench_rows.count() >= 480
    for case in bench.CASES:
        result = run_case(case, 1, warmup=0)
        assert result.runs == 1 and result.queries >= 1, case.name
