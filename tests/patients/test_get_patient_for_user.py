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


@pytest.mark.parametrize("as_text", [False, True])
def test_one_round_trip_for_the_patient_and_its_read_event(doctor_user, as_text):
    patient = PatientFactory()
    selectors.get_patient_for_user(doctor_user, patient.pk, purpose=None)  # compiled now
    pk = str(patient.pk) if as_text else patient.pk  # a URL's digits, or an id
    with CaptureQueriesContext(connection) as queries:
        got = selectors.get_patient_for_user(
            doctor_user, pk, purpose=AuditAction.READ, detail={"via": "api"}
        )
    assert len(queries) == 1  # the patient and the audit event, sent together
    assert _fields(got) == _fields(patient)
    event = AuditEvent.objects.get(action=AuditAction.READ)
    assert (event.actor_id, event.patient_id) == (doctor_user.pk, patient.pk)
    assert (event.object_type, event.object_id, event.detail) == (
        "patients.patient",
        str(patient.pk),
        {"via": "api"},
    )
    # Read again in the same request: served, not recorded twice (as before).
    assert selectors.get_patient_for_user(doctor_user, pk, purpose=AuditAction.READ) == got


def test_what_of_the_patient_is_served_is_named_in_the_event(doctor_user):
    patient = PatientFactory()
    selectors.get_patient_for_user(
        doctor_user, patient.pk, purpose=AuditAction.READ, object_type="billing.account"
    )
    event = AuditEvent.objects.get(action=AuditAction.READ)
    assert (event.object_type, event.object_id) == ("billing.account", str(patient.pk))


def test_clinical_reads_still_check_before_recording(front_desk_user):
    """A clinical read the user may not make is a 404 with no read event (the check needs
    the patient first, so it is not sent with the event)."""
    patient = PatientFactory()
    with pytest.raises(Http404):
        selectors.get_patient_for_user(
            front_desk_user, patient.pk, purpose=AuditAction.READ, clinical=True
        )
    assert not AuditEvent.objects.filter(action=AuditAction.READ).exists()


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
