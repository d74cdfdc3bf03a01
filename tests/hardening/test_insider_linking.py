"""Front desk cannot hand an account it controls a record whose name differs; the record's
own email hears of every link and unlink; "who viewed my record" shows who linked."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.roles import Role
from patients.models import Patient
from patients.services import patient_accounts
from tests.conftest import login
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def insider_account(make_user):
    return make_user(Role.PATIENT, email="desk.alt@usc.edu.ph", first_name="Fran", last_name="Desk")


@pytest.fixture
def victim():
    return PatientFactory(
        first_name="Maria", last_name="Santos", id_number="21990002", email="maria.santos@gmail.com"
    )


def _link(client, account, record):
    return client.post(
        reverse("patients:account_link", args=[account.pk]),
        {"patient": record.pk, "identity_checked": "on"},
    )


def test_front_desk_cannot_link_an_account_whose_name_differs(
    client, front_desk_user, insider_account, victim
):
    login(client, front_desk_user)
    page = client.get(
        reverse("patients:account_link", args=[insider_account.pk]), {"patient": victim.pk}
    ).content.decode()
    assert 'id="needs-clinician"' in page
    response = _link(client, insider_account, victim)
    assert response.status_code == 422
    victim.refresh_from_db()
    assert victim.user_id is None
    with pytest.raises(ValidationError):
        patient_accounts.patient_link_account(
            actor=front_desk_user, patient=victim, user=insider_account
        )


def test_a_clinician_may_make_the_mismatched_link_and_the_record_email_is_told(
    client, nurse_user, insider_account, victim, django_capture_on_commit_callbacks
):
    login(client, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert _link(client, insider_account, victim).status_code == 302
    victim.refresh_from_db()
    assert victim.user_id == insider_account.pk
    to_record = [m for m in mail.outbox if m.to == ["maria.santos@gmail.com"]]
    assert len(to_record) == 1 and "connected" in to_record[0].subject
    assert "desk.alt@usc.edu.ph" in to_record[0].body


def test_unlink_tells_the_record_email_too(
    client, front_desk_user, make_user, django_capture_on_commit_callbacks
):
    holder = make_user(
        Role.PATIENT, email="maria.s@usc.edu.ph", first_name="Maria", last_name="Santos"
    )
    record = PatientFactory(
        first_name="Maria", last_name="Santos", email="maria.santos@gmail.com", user=holder
    )
    login(client, front_desk_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("patients:account_unlink", args=[record.pk]))
    assert Patient.objects.get(pk=record.pk).user_id is None
    to_record = [m for m in mail.outbox if m.to == ["maria.santos@gmail.com"]]
    assert len(to_record) == 1 and "disconnected" in to_record[0].subject


def test_who_viewed_my_record_shows_who_linked_the_account(client, nurse_user, make_user):
    holder = make_user(Role.PATIENT, email="lea.d@usc.edu.ph", first_name="Lea", last_name="Dizon")
    record = PatientFactory(first_name="Lea", last_name="Dizon")
    patient_accounts.patient_link_account(actor=nurse_user, patient=record, user=holder)
    login(client, holder)
    body = client.get(reverse("patients:portal_access_log")).content.decode()
    assert "Connected the portal account" in body and "lea.d@usc.edu.ph" in body
    assert nurse_user.last_name in body


def test_same_name_link_by_front_desk_still_works(front_desk_user, make_user):
    holder = make_user(
        Role.PATIENT, email="jose.r@usc.edu.ph", first_name="José", last_name="Rizal"
    )
    record = PatientFactory(first_name="JOSE", last_name="rizal")
    patient_accounts.patient_link_account(actor=front_desk_user, patient=record, user=holder)
    record.refresh_from_db()
    assert record.user_id == holder.pk
