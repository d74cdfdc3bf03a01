"""The PhilHealth PIN on the patient record: 12 digits stored without dashes and shown as
``nn-nnnnnnnnn-n``, optional, unique when present (a partial unique constraint), checked
with field errors on the registration and edit forms and the REST API, audited like other
demographic edits, shown on the chart, and used by claim exports whose coverage has no
member ID."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from accounts.services import api_token_create
from patients.models import Patient, format_philhealth_pin
from patients.services import registry
from tests.patients.factories import PatientFactory
from tests.patients.test_registry import FORM

pytestmark = pytest.mark.django_db


def _edit_form(patient, **changes):
    data = {f: getattr(patient, f) or "" for f in registry.PATIENT_FIELDS}
    data.update(birth_date=patient.birth_date.isoformat(), year_level=patient.year_level or "")
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "typed,stored",
    [
        ("12-345678901-2", "123456789012"),
        ("123456789012", "123456789012"),
        (" 12 345678901 2 ", "123456789012"),
        ("", None),
        (None, None),
    ],
)
def test_pin_is_stored_as_its_twelve_digits(typed, stored):
    assert registry.philhealth_pin_clean(typed) == stored


@pytest.mark.parametrize(
    "typed", ["12-34567890-2", "1234567890123", "12-345678901-X", "١٢٣٤٥٦٧٨٩٠١٢", "12/345678901/2"]
)
def test_anything_but_twelve_digits_is_refused(typed):
    with pytest.raises(ValidationError) as exc:
        registry.philhealth_pin_clean(typed)
    assert "12 digits" in exc.value.messages[0]


def test_display_format():
    assert format_philhealth_pin("123456789012") == "12-345678901-2"
    assert format_philhealth_pin(None) == "" and format_philhealth_pin("") == ""


def test_database_refuses_a_second_patient_with_the_same_pin_but_allows_many_without():
    PatientFactory(philhealth_pin="123456789012")
    PatientFactory(philhealth_pin=None)
    PatientFactory(philhealth_pin=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(philhealth_pin="123456789012")


def test_database_refuses_a_pin_that_is_not_twelve_digits():
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(philhealth_pin="12-345678901")


def test_register_with_a_dashed_pin_stores_the_digits(client_for, front_desk_user):
    r = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "philhealth_pin": "12-345678901-2"}
    )
    assert r.status_code == 302, r.content[:500]
    assert Patient.objects.get(id_number=FORM["id_number"]).philhealth_pin == "123456789012"


def test_register_without_a_pin_stores_null(client_for, front_desk_user):
    r = client_for(front_desk_user).post(reverse("patients:register"), FORM)
    assert r.status_code == 302
    assert Patient.objects.get(id_number=FORM["id_number"]).philhealth_pin is None


def test_a_malformed_pin_is_a_form_error(client_for, front_desk_user):
    r = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "philhealth_pin": "12-3456"}
    )
    assert r.status_code == 422
    assert b"A PhilHealth PIN has 12 digits" in r.content
    assert not Patient.objects.filter(id_number=FORM["id_number"]).exists()


def test_a_taken_pin_is_a_form_error_on_edit(client_for, front_desk_user):
    PatientFactory(philhealth_pin="123456789012")
    patient = PatientFactory(philhealth_pin=None)
    r = client_for(front_desk_user).post(
        reverse("patients:edit", args=[patient.pk]),
        _edit_form(patient, philhealth_pin="12-345678901-2"),
    )
    assert r.status_code == 422 and b"Another patient already has this PhilHealth PIN" in r.content
    patient.refresh_from_db()
    assert patient.philhealth_pin is None


def test_service_refuses_a_taken_pin_with_a_field_error(front_desk_user):
    PatientFactory(philhealth_pin="123456789012")
    patient = PatientFactory()
    with pytest.raises(ValidationError) as exc:
        registry.patient_update(
            actor=front_desk_user, patient=patient, data={"philhealth_pin": "123456789012"}
        )
    assert "philhealth_pin" in exc.value.error_dict


def test_a_race_past_the_check_is_still_a_field_error(front_desk_user, monkeypatch):
    PatientFactory(philhealth_pin="123456789012")
    patient = PatientFactory()
    monkeypatch.setattr(registry, "philhealth_pin_refuse_taken", lambda *a, **k: None)
    with pytest.raises(ValidationError) as exc:
        registry.patient_update(
            actor=front_desk_user, patient=patient, data={"philhealth_pin": "123456789012"}
        )
    assert exc.value.message_dict == {"philhealth_pin": [registry.PHILHEALTH_PIN_TAKEN]}


def test_edit_keeps_its_own_pin_and_is_audited(client_for, front_desk_user):
    patient = PatientFactory(philhealth_pin="123456789012")
    client = client_for(front_desk_user)
    page = client.get(reverse("patients:edit", args=[patient.pk]))
    assert b'value="12-345678901-2"' in page.content
    r = client.post(
        reverse("patients:edit", args=[patient.pk]),
        _edit_form(patient, philhealth_pin="12-345678901-2", phone="0917 000 0000"),
    )
    assert r.status_code == 302
    r = client.post(
        reverse("patients:edit", args=[patient.pk]), _edit_form(patient, philhealth_pin="")
    )
    assert r.status_code == 302
    patient.refresh_from_db()
    assert patient.philhealth_pin is None
    event = AuditEvent.objects.filter(action="update", patient_id=patient.pk).latest("pk")
    assert "philhealth_pin" in event.detail["fields"]
    assert "123456789012" not in str(event.detail)


def test_chart_shows_the_formatted_pin(client_for, doctor_user):
    patient = PatientFactory(philhealth_pin="123456789012")
    r = client_for(doctor_user).get(reverse("patients:chart_tab", args=[patient.pk, "overview"]))
    assert r.status_code == 200 and b"12-345678901-2" in r.content


def _api(user):
    client = APIClient()
    _, secret = api_token_create(actor=user, name="test", scope="read_write")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_rest_api_reads_and_writes_the_pin(front_desk_user, billing_user):
    # The front desk edits demographics; the billing office reads them (for claims) only.
    patient = PatientFactory(philhealth_pin=None)
    other = PatientFactory(philhealth_pin="999999999999")
    api = _api(front_desk_user)
    url = f"/api/v1/patients/{patient.pk}/"
    r = api.patch(url, {"philhealth_pin": "12-345678901-2"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["philhealth_pin"] == "12-345678901-2"
    assert Patient.objects.get(pk=patient.pk).philhealth_pin == "123456789012"
    r = api.patch(url, {"philhealth_pin": "12-34"}, format="json")
    assert r.status_code == 400 and "philhealth_pin" in str(r.json())
    r = api.patch(url, {"philhealth_pin": other.philhealth_pin}, format="json")
    assert r.status_code == 400 and "philhealth_pin" in str(r.json())
    r = api.patch(url, {"philhealth_pin": None}, format="json")
    assert r.status_code == 200 and r.json()["philhealth_pin"] == ""
    assert Patient.objects.get(pk=patient.pk).philhealth_pin is None
    reader = _api(billing_user)
    assert reader.get(f"/api/v1/patients/{other.pk}/").json()["philhealth_pin"] == "99-999999999-9"
    assert reader.patch(url, {"philhealth_pin": "123456789012"}, format="json").status_code == 403
