"""``any_of``: membership in a list of ids sent as one array parameter matches exactly what
``__in`` matches, uses one placeholder, and an empty list matches nothing without a query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from tests.patients.factories import PatientFactory
from uscpis.dblookups import any_of

pytestmark = pytest.mark.django_db


def test_any_of_matches_what_in_matches_with_one_parameter():
    patients = [PatientFactory() for _ in range(5)]
    wanted = [patients[0].pk, patients[3].pk, 10**12]
    with CaptureQueriesContext(connection) as ctx:
        found = sorted(Patient.objects.filter(any_of("id", wanted)).values_list("pk", flat=True))
    assert found == sorted(Patient.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == sorted([patients[0].pk, patients[3].pk])
    assert "= ANY(" in ctx.captured_queries[0]["sql"]


def test_any_of_an_empty_list_matches_nothing_without_a_query():
    PatientFactory()
    with CaptureQueriesContext(connection) as ctx:
        assert list(Patient.objects.filter(any_of("id", []))) == []
    assert ctx.captured_queries == []
