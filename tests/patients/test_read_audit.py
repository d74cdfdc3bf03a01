"""Pages that show patient data leave a read event in the audit trail."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from tests.patients.factories import CertificateFactory, PatientFactory


@pytest.mark.django_db
def test_tooth_panel_read_is_audited(dentist_user, dental_visit, client_for):
    response = client_for(dentist_user).get(
        reverse("patients:visit_tooth", args=[dental_visit.pk, 36]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="read", patient_id=dental_visit.patient_id)
    assert event.actor == dentist_user and event.object_type == "patients.visit"
    assert event.detail == {"view": "tooth", "tooth": 36}


@pytest.mark.django_db
def test_demographics_edit_page_read_is_audited(patient, front_desk_user, client_for):
    c = client_for(front_desk_user)
    assert c.get(reverse("patients:edit", args=[patient.pk])).status_code == 200
    event = AuditEvent.objects.get(action="read", patient_id=patient.pk)
    assert event.actor == front_desk_user and event.detail == {"view": "edit"}


@pytest.mark.django_db
def test_certificate_queue_read_is_audited(patient, other_patient, doctor_user, client_for):
    first = CertificateFactory(patient=patient, requested_by=doctor_user)
    second = CertificateFactory(patient=other_patient, requested_by=doctor_user)
    response = client_for(doctor_user).get(reverse("patients:certificate_queue"))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="read", object_type="patients.medicalcertificate")
    assert event.actor == doctor_user
    assert event.detail["view"] == "certificate_queue"
    assert event.detail["certificates"] == [first.pk, second.pk]
    assert event.detail["patients"] == sorted([patient.pk, other_patient.pk])


@pytest.mark.django_db
def test_link_candidates_and_selected_record_reads_are_audited(
    front_desk_user, make_user, client_for
):
    account = make_user(
        Role.PATIENT, email="maria@usc.edu.ph", first_name="Maria", last_name="Santos"
    )
    record = PatientFactory(
        email="maria@usc.edu.ph", first_name="Maria", last_name="Santos", user=None
    )
    c = client_for(front_desk_user)
    url = reverse("patients:account_link", args=[account.pk])

    assert c.get(url).status_code == 200
    listed = AuditEvent.objects.get(action="read", detail__view="link_candidates")
    assert listed.actor == front_desk_user and listed.detail["patients"] == [record.pk]
    assert listed.detail["account"] == account.pk

    assert c.get(url, {"patient": record.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="link-confirm")
    chosen = AuditEvent.objects.get(action="read", patient_id=record.pk)
    assert chosen.detail == {"view": "account_link", "account": account.pk}

    assert c.get(reverse("patients:portal_accounts")).status_code == 200
    suggested = AuditEvent.objects.get(action="read", detail__view="portal_accounts")
    assert suggested.detail["patients"] == [record.pk]
