"""ID numbers are unique regardless of case (the database enforces it), editing runs the
same checks as registering, and an ID number cannot carry spaces or control characters
(which used to break every export of the record)."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from patients.models import Patient
from patients.services import registry
from tests.patients.factories import PatientFactory
from tests.patients.test_registry import FORM

pytestmark = pytest.mark.django_db


def _edit_form(patient, **changes):
    data = {f: getattr(patient, f) or "" for f in registry.PATIENT_FIELDS}
    data.update(birth_date=patient.birth_date.isoformat(), year_level=patient.year_level or "")
    data.update(changes)
    return data


# --- 4. Case-insensitive uniqueness, duplicate step on edit ------------------------------------


def test_database_refuses_an_id_number_differing_only_in_case():
    PatientFactory(id_number="ABC123")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(id_number="abc123")


def test_edit_to_an_id_number_taken_in_another_case_is_a_form_error(client_for, front_desk_user):
    PatientFactory(id_number="ABC123")
    patient = PatientFactory(id_number="ZZZ1")
    response = client_for(front_desk_user).post(
        reverse("patients:edit", args=[patient.pk]), _edit_form(patient, id_number="abc123")
    )
    assert response.status_code == 422 and b"already registered" in response.content
    patient.refresh_from_db()
    assert patient.id_number == "ZZZ1"


def test_patient_update_service_refuses_a_taken_id_number_in_another_case(front_desk_user):
    PatientFactory(id_number="ABC123")
    patient = PatientFactory(id_number="ZZZ1")
    with pytest.raises(ValidationError) as exc:
        registry.patient_update(
            actor=front_desk_user, patient=patient, data={"id_number": "abc123"}
        )
    assert "id_number" in exc.value.error_dict
    assert Patient.objects.get(pk=patient.pk).id_number == "ZZZ1"


def test_registering_an_id_number_taken_in_another_case_is_a_field_error(
    client_for, front_desk_user
):
    PatientFactory(id_number="ABC123")
    response = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "id_number": "abc123"}
    )
    assert response.status_code == 422 and b"already registered" in response.content
    assert not Patient.objects.filter(id_number="abc123").exists()


def test_edit_into_another_patients_name_and_birth_date_asks_first(client_for, front_desk_user):
    PatientFactory(first_name="Dup", last_name="Licate", birth_date=date(2001, 1, 1))
    patient = PatientFactory(first_name="E", last_name="F", id_number="QQQ1")
    client = client_for(front_desk_user)
    data = _edit_form(patient, first_name="Dup", last_name="Licate", birth_date="2001-01-01")
    first = client.post(reverse("patients:edit", args=[patient.pk]), data)
    assert first.status_code == 422 and b"Possible duplicate" in first.content
    assert b"Save anyway" in first.content
    patient.refresh_from_db()
    assert patient.first_name == "E"
    second = client.post(
        reverse("patients:edit", args=[patient.pk]), {**data, "confirm_duplicate": "on"}
    )
    assert second.status_code == 302
    patient.refresh_from_db()
    assert patient.first_name == "Dup"


def test_edit_of_other_fields_does_not_ask_about_an_existing_namesake(client_for, front_desk_user):
    """Two different people already share a name and birth date: changing a phone number on
    one of them must not stop at the duplicate step every time."""
    PatientFactory(first_name="Maria", last_name="Reyes", birth_date=date(2002, 2, 2))
    patient = PatientFactory(first_name="Maria", last_name="Reyes", birth_date=date(2002, 2, 2))
    response = client_for(front_desk_user).post(
        reverse("patients:edit", args=[patient.pk]), _edit_form(patient, phone="0917 000 0000")
    )
    assert response.status_code == 302


# --- 5. No spaces or control characters in ID numbers; exports survive old data ---------------


@pytest.mark.parametrize("bad", ["12\r\n34", "12 34", "12\x0b34", "12\u200b34"])
def test_register_refuses_spaces_and_control_characters_in_the_id_number(
    client_for, front_desk_user, bad
):
    response = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "id_number": bad}
    )
    assert response.status_code == 422 and b"spaces or control characters" in response.content
    assert not Patient.objects.exists()


def test_services_refuse_control_characters_in_the_id_number(front_desk_user):
    data = {k: v for k, v in FORM.items() if v != ""}
    data.update(birth_date=date(2004, 2, 3), year_level=2, id_number="12\r\n34")
    with pytest.raises(ValidationError) as exc:
        registry.patient_register(actor=front_desk_user, data=data)
    assert "id_number" in exc.value.error_dict
    patient = PatientFactory(id_number="OK1")
    with pytest.raises(ValidationError):
        registry.patient_update(actor=front_desk_user, patient=patient, data={"id_number": "a\nb"})


def test_surrounding_spaces_are_trimmed(client_for, front_desk_user):
    response = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "id_number": "  21000009  "}
    )
    assert response.status_code == 302
    assert Patient.objects.filter(id_number="21000009").exists()


@pytest.mark.parametrize("fmt", ["pdf", "csv", "fhir"])
def test_export_of_an_old_record_with_a_newline_in_its_id_number(client_for, doctor_user, fmt):
    """Data saved before the check existed must still export, with a safe file name."""
    patient = PatientFactory(id_number='12\r\n34"x')
    response = client_for(doctor_user).get(reverse("patients:export", args=[patient.pk, fmt]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="record-12-34x-')
