"""A patient probing another patient's object ids gets the same 404 as for ids that do not
exist, and the attempt is in the audit trail as denied, naming the probed patient."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from patients.models import PatientDocument
from patients.services import visits
from tests.patients.factories import CertificateFactory, VisitFactory

pytestmark = pytest.mark.django_db


def _denied():
    return list(
        AuditEvent.objects.filter(action=AuditAction.DENIED).values_list(
            "actor_id", "object_type", "object_id", "patient_id", "allowed", "path"
        )
    )


@pytest.fixture
def theirs(other_patient, doctor_user):
    visit = VisitFactory(patient=other_patient, provider=doctor_user)
    visits.visit_sign(actor=doctor_user, visit=visit)
    cert = CertificateFactory(patient=other_patient, requested_by=doctor_user)
    document = PatientDocument(
        patient=other_patient,
        title="X-ray",
        uploaded_by=doctor_user,
        kind="other",
        original_name="probe.txt",
        content_type="text/plain",
        size=5,
        sha256="0" * 64,
    )
    document.file.save("probe.txt", ContentFile(b"x-ray"), save=False)
    document.save()
    return {"visit": visit, "certificate": cert, "document": document}


@pytest.mark.parametrize(
    "url_name,key,object_type",
    [
        ("patients:portal_visit", "visit", "patients.visit"),
        ("patients:portal_certificate_pdf", "certificate", "patients.medicalcertificate"),
        ("patients:portal_document_download", "document", "patients.patientdocument"),
    ],
)
def test_probing_another_patients_object_is_404_and_audited_as_denied(
    url_name, key, object_type, theirs, patient, other_patient, patient_user, client_for
):
    client = client_for(patient_user)
    pk = theirs[key].pk
    url = reverse(url_name, args=[pk])
    response = client.get(url)
    missing = client.get(reverse(url_name, args=[pk + 100_000]))
    assert response.status_code == missing.status_code == 404
    assert _denied() == [(patient_user.pk, object_type, str(pk), other_patient.pk, False, url)]


def test_a_staff_id_probe_of_the_chart_is_audited_too(patient, other_patient, doctor_user):
    """The access helper itself records it, whoever calls it (here: the chart's helper
    called for a patient account, as any portal or API door would)."""
    from django.http import Http404

    from patients.selectors import get_patient_for_user

    with pytest.raises(Http404):
        get_patient_for_user(patient.user, other_patient.pk, purpose=None)
    with pytest.raises(Http404):
        get_patient_for_user(patient.user, 987_654, purpose=None)  # does not exist: nothing to name
    with pytest.raises(Http404):
        get_patient_for_user(patient.user, "x", purpose=None)
    assert _denied() == [
        (patient.user_id, "patients.patient", str(other_patient.pk), other_patient.pk, False, "")
    ]
