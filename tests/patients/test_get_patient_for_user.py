"""``get_patient_for_user`` reads a staff member's patient with SQL compiled once
(``uscpis.compiled``): the same patient, field for field, as ``visible_to(user).get(pk=...)``,
the same 404s and the same audit events; a patient still sees only their own record."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditAction, AuditEvent
from patients import selectors
from patients.models import Patient, sees_every_patient
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _fields(patient: Patient) -> list:
    return [(f.attname, getattr(patient, f.attname)) for f in Patient._meta.concrete_fields]


def test_staff_get_the_same_patient_as_the_orm(doctor_user, front_desk_user):
    patient = PatientFactory(
        middle_name="Ña <b>", birth_date=date(1988, 7, 9), philhealth_pin="123456789012"
    )
    for user in (doctor_user, front_desk_user):
        assert sees_every_patient(user)
        got = selectors.get_patient_for_user(user, patient.pk, purpose=None)
        assert _fields(got) == _fields(Patient.objects.visible_to(user).get(pk=patient.pk))
        assert selectors.get_patient_for_user(user, str(patient.pk), purpose=None) == patient


def test_one_query_and_one_read_event(doctor_user):
    patient = PatientFactory()
    selectors.get_patient_for_user(doctor_user, patient.pk, purpose=None)  # compiled now
    with CaptureQueriesContext(connection) as queries:
        selectors.get_patient_for_user(doctor_user, patient.pk, purpose=AuditAction.READ)
    assert len(queries) == 2  # the patient, the audit event
    event = AuditEvent.objects.get(action=AuditAction.READ)
    assert (event.actor_id, event.patient_id) == (doctor_user.pk, patient.pk)


@pytest.mark.parametrize("pk", ["abc", None, 10**30, -5])
def test_no_such_patient_is_404_without_a_read(doctor_user, pk):
    PatientFactory()
    with pytest.raises(Http404):
        selectors.get_patient_for_user(doctor_user, pk, purpose=AuditAction.READ)
    assert not AuditEvent.objects.exists()


def test_a_missing_id_is_404(doctor_user):
    gone = PatientFactory()
    pk = gone.pk
    gone.delete()
    with pytest.raises(Http404):
        selectors.get_patient_for_user(doctor_user, pk, purpose=AuditAction.READ)
    assert not AuditEvent.objects.exists()


def test_a_patient_sees_only_their_own_record(patient_user, inventory_user):
    own = PatientFactory(user=patient_user)
    other = PatientFactory()
    assert not sees_every_patient(patient_user)
    assert selectors.get_patient_for_user(patient_user, own.pk, purpose=None) == own
    with pytest.raises(Http404):
        selectors.get_patient_for_user(patient_user, other.pk, purpose=AuditAction.READ)
    denied = AuditEvent.objects.get()
    assert (denied.action, denied.allowed, denied.patient_id) == (
        AuditAction.DENIED,
        False,
        other.pk,
    )
    assert not sees_every_patient(inventory_user)  # no demographics access: sees none
    with pytest.raises(Http404):
        selectors.get_patient_for_user(inventory_user, own.pk, purpose=None)


def test_an_inactive_staff_member_sees_no_patient(doctor_user):
    patient = PatientFactory()
    doctor_user.is_active = False
    assert not sees_every_patient(doctor_user)
    with pytest.raises(Http404):
        selectors.get_patient_for_user(doctor_user, patient.pk, purpose=None)
