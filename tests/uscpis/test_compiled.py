"""``uscpis.compiled``: a queryset compiled once gives what the ORM gives (same rows, same
order, same field values and types, deferred fields deferred), and querysets it cannot
reproduce go through the ORM."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from patients.models import Allergy, Patient
from tests.patients.factories import AllergyFactory, PatientFactory
from uscpis.compiled import CompiledQuery, fetch_together

pytestmark = pytest.mark.django_db


def _values(objects) -> list[tuple]:
    """Every loaded field of every object, with its type (a model's ``==`` is only the pk)."""
    return [
        tuple(
            (f.attname, type(v), v)
            for f in o._meta.concrete_fields
            if f.attname not in o.get_deferred_fields()
            for v in [getattr(o, f.attname)]
        )
        for o in objects
    ]


def test_rows_equal_the_orms():
    patient = PatientFactory(birth_date=date(1999, 2, 3), middle_name="<b>&", year_level=None)
    AllergyFactory(patient=patient, substance="Peanut", severity="severe")
    AllergyFactory(patient=patient, substance="aspirin")
    AllergyFactory(patient=patient, substance="Latex", is_active=False)
    AllergyFactory(substance="Not theirs")
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    active = CompiledQuery(
        Allergy,
        lambda pid: Allergy.objects.filter(patient_id=pid, is_active=True).order_by("substance"),
    )
    for _ in range(2):  # compiled on the first call, reused on the second
        assert _values(by_pk.all(patient.pk)) == _values([Patient.objects.get(pk=patient.pk)])
        got = active.all(patient.pk)
        want = list(Allergy.objects.filter(patient=patient, is_active=True).order_by("substance"))
        assert _values(got) == _values(want)
        assert {a.substance for a in got} == {"Peanut", "aspirin"}
    assert by_pk.first(patient.pk + 10_000) is None
    assert by_pk.first(patient.pk)._state.adding is False
    assert by_pk.first(patient.pk)._state.db == "default"


def test_deferred_fields_stay_deferred():
    patient = PatientFactory()
    light = CompiledQuery(
        Patient, lambda pk: Patient.objects.filter(pk=pk).only("first_name", "last_name")
    )
    got = light.first(patient.pk)
    want = Patient.objects.only("first_name", "last_name").get(pk=patient.pk)
    assert got.get_deferred_fields() == want.get_deferred_fields() != set()
    assert _values([got]) == _values([want])


def test_one_statement_per_call_through_the_connection():
    patient = PatientFactory()
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    by_pk.first(patient.pk)
    with CaptureQueriesContext(connection) as queries:
        by_pk.first(patient.pk)
    assert len(queries) == 1 and f"= {patient.pk}" in queries[0]["sql"]


def test_what_it_cannot_reproduce_goes_through_the_orm(doctor_user):
    patient = PatientFactory(user=doctor_user)
    related = CompiledQuery(
        Patient, lambda pk: Patient.objects.select_related("user").filter(pk=pk)
    )
    assert related.statement(patient.pk) is None
    got = related.first(patient.pk)
    assert got == patient and got.user == doctor_user
    # The id used twice: not one parameter per argument.
    twice = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk, id__gte=pk))
    assert twice.statement(patient.pk) is None
    assert twice.first(patient.pk) == patient
    # Another model's rows.
    other = CompiledQuery(Patient, lambda pk: User.objects.filter(pk=pk))
    assert other.statement(doctor_user.pk) is None
    with pytest.raises(TypeError):
        related.first(str(patient.pk))


def test_fetch_together_returns_each_statements_rows():
    a, b = PatientFactory(), PatientFactory()
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    with CaptureQueriesContext(connection) as queries:
        first, second, third = fetch_together(
            [by_pk.statement(a.pk), by_pk.statement(b.pk), ("SELECT %s + 1", [41])]
        )
    assert len(queries) == 1
    assert [p.pk for p in by_pk.objects(first, 1)] == [a.pk]
    assert [p.pk for p in by_pk.objects(second, 1)] == [b.pk]
    assert third == [(42,)]
