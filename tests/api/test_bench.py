"""The API's benchmark cases (patient search and read, free slots, stock list, FHIR Patient
search by name, $everything for the 700-visit patient) run at tiny scale."""

import io

import pytest
from django.core.management import call_command

from appointments import bench as appointments_bench
from inventory import bench as inventory_bench
from patients import bench as patients_bench
from uscpis.bench import run_case

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Query counts pinned: token look-up, the read itself and its audit event; they must not
# grow with the data (the $everything case reads 700 visits in the same count).
API_CASES = {
    "api: patient search": 10,
    "api: patient read": 9,
    "fhir: Patient search by name": 9,
    "fhir: $everything, 700 visits": 16,
    "api: free slots, provider-week": 10,
    "api: stock list": 4,
}


def test_every_api_bench_case_runs_at_tiny_scale():
    call_command("seed_demo", stdout=io.StringIO())
    patients_bench.generate({"patients": 200}, io.StringIO())
    appointments_bench.generate({"appointments": 200}, io.StringIO())
    inventory_bench.generate({"items": 20, "movements": 100}, io.StringIO())
    cases = {
        c.name: c for m in (patients_bench, appointments_bench, inventory_bench) for c in m.CASES
    }
    assert set(API_CASES) <= set(cases)
    for name, queries in API_CASES.items():
        result = run_case(cases[name], 2, warmup=0)
        assert result.runs == 2 and 1 <= result.queries <= queries, (name, result.queries)
