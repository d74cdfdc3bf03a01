"""Documents, certificates (workflow, PDF, verification, notification), exports (PDF, CSV,
FHIR validated with fhir.resources), portal and self-registration."""

import json
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Notification, User
from patients.models import (
    CertificateStatus,
    Immunization,
    Medication,
    Patient,
    PatientDocument,
)
from patients.services import certificates, documents
from patients.services import visits as visits_services
from tests.patients.factories import AllergyFactory, CertificateFactory
from tests.pdftext import pdf_text

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def full_visit(visit, doctor_user, nurse_user):
    AllergyFactory(patient=visit.patient, substance="Penicillin", reaction="Hives")
    Medication.objects.create(
        patient=visit.patient, name="Salbutamol", dose="100 mcg", frequency="PRN"
    )
    Immunization.objects.create(
        patient=visit.patient,
        vaccine="Hepatitis B",
        dose_number=1,
        given_on="2010-01-01",
        lot_number="HB1",
    )
    visits_services.vitals_record(
        actor=nurse_user,
        visit=visit,
        values={
            "temperature_c": 38,
            "systolic": 120,
            "diastolic": 80,
            "pulse": 90,
            "respiratory_rate": 18,
            "spo2": 98,
            "height_cm": 160,
            "weight_kg": 55,
        },
    )
    visits_services.diagnosis_add(actor=doctor_user, visit=visit, code="J06.9")
    visits_services.prescription_add(
        actor=doctor_user,
        visit=visit,
        data={
            "drug_name": "Paracetamol",
            "dose": "500 mg",
            "route": "oral",
            "frequency": "every 6 hours",
            "duration": "3 days",
            "quantity": 10,
        },
    )
    visits_services.visit_sign(actor=doctor_user, visit=visit)
    return visit


# --- Documents -------------------------------------------------------------------------


@pytest.mark.django_db
def test_document_upload_checks_magic_bytes_and_download_is_audited(
    patient, nurse_user, patient_user, other_patient_user, client_for
):
    c = client_for(nurse_user)
    url = reverse("patients:document_upload", args=[patient.pk])
    disguised = SimpleUploadedFile(
        "lab.pdf", b"MZ\x90\x00 this is an exe", content_type="application/pdf"
    )
    response = c.post(url, {"kind": "lab", "title": "CBC", "file": disguised})
    assert response.status_code == 422 and b"checked by content" in response.content
    assert not PatientDocument.objects.exists()
    ok = c.post(
        url, {"kind": "lab", "title": "CBC", "file": SimpleUploadedFile("cbc.pdf", PDF_BYTES)}
    )
    assert ok.status_code == 302
    doc = PatientDocument.objects.get()
    assert doc.content_type == "application/pdf"
    download = c.get(reverse("patients:document_download", args=[doc.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF_BYTES
    assert (
        AuditEvent.objects.filter(action="export", object_type="patients.patientdocument").count()
        == 1
    )
    mine = client_for(patient_user).get(reverse("patients:portal_document_download", args=[doc.pk]))
    assert mine.status_code == 200
    theirs = client_for(other_patient_user).get(
        reverse("patients:portal_document_download", args=[doc.pk])
    )
    assert theirs.status_code == 404


@pytest.mark.django_db
def test_oversized_document_is_refused(patient, nurse_user, monkeypatch):
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 100)
    with pytest.raises(ValidationError):
        documents.document_upload(
            actor=nurse_user,
            patient=patient,
            kind="xray",
            title="x",
            upload=SimpleUploadedFile("x.png", PNG_BYTES + b"\x00" * 200),
        )
    assert not PatientDocument.objects.exists()


# --- Certificates ----------------------------------------------------------------------


@pytest.mark.django_db
def test_certificate_workflow_pdf_verification_and_notification(
    patient, patient_user, doctor_user, client_for, client, django_capture_on_commit_callbacks
):
    portal = client_for(patient_user)
    assert (
        portal.post(reverse("patients:portal_certificates"), {"purpose": "PE class"}).status_code
        == 302
    )
    cert = patient.certificates.get()
    assert cert.status == CertificateStatus.PENDING
    doc = client_for(doctor_user)
    assert b"PE class" in doc.get(reverse("patients:certificate_queue")).content
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        response = doc.post(
            reverse("patients:certificate_decide", args=[cert.pk]),
            {
                "decision": "approve",
                "fitness": "fit",
                "findings": "Normal exam",
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=30)).isoformat(),
            },
        )
    assert response.status_code == 302
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.APPROVED
    assert Notification.objects.filter(user=patient_user, title__contains="approved").exists()
    assert any("approved" in m.subject for m in mail.outbox)
    pdf = portal.get(reverse("patients:portal_certificate_pdf", args=[cert.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "MEDICAL CERTIFICATE" in text and cert.verification_code in text and "FIT" in text
    assert "Pat" in text and "PE class" in text
    page = client.get(reverse("patients:verify_certificate", args=[cert.verification_code]))
    assert b"Authentic and currently valid" in page.content
    assert b"Normal exam" not in page.content  # no health details on the public page
    again = doc.post(
        reverse("patients:certificate_decide", args=[cert.pk]),
        {"decision": "reject", "rejection_reason": "x"},
    )
    assert again.status_code == 422  # already decided


@pytest.mark.django_db
def test_certificate_reject_needs_reason_and_notifies(
    patient, patient_user, doctor_user, django_capture_on_commit_callbacks
):
    cert = CertificateFactory(patient=patient, requested_by=patient_user)
    with pytest.raises(ValidationError):
        certificates.certificate_decide(actor=doctor_user, certificate=cert, approve=False)
    with django_capture_on_commit_callbacks(execute=True):
        certificates.certificate_decide(
            actor=doctor_user, certificate=cert, approve=False, rejection_reason="Unseen"
        )
    assert Notification.objects.filter(user=patient_user, title__contains="rejected").exists()


@pytest.mark.django_db
def test_approval_validates_dates(patient, doctor_user, patient_user):
    cert = CertificateFactory(patient=patient, requested_by=patient_user)
    today = timezone.localdate()
    with pytest.raises(ValidationError) as exc:
        certificates.certificate_decide(
            actor=doctor_user,
            certificate=cert,
            approve=True,
            fitness="fit",
            valid_from=today,
            valid_until=today - timedelta(days=1),
        )
    assert "valid_until" in exc.value.message_dict


@pytest.mark.django_db
def test_unknown_verification_code(client):
    response = client.get(reverse("patients:verify_certificate", args=["FORGED123"]))
    assert response.status_code == 200 and b"No approved certificate" in response.content


# --- Exports ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_fhir_bundle_validates_with_fhir_resources(full_visit, doctor_user, client_for):
    from fhir.resources.R4B.bundle import Bundle

    response = client_for(doctor_user).get(
        reverse("patients:export", args=[full_visit.patient_id, "fhir"])
    )
    assert response.status_code == 200
    data = json.loads(response.content)
    bundle = Bundle.model_validate(data)
    kinds = {e.resource.__resource_type__ for e in bundle.entry}
    assert {
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "AllergyIntolerance",
        "MedicationRequest",
        "Immunization",
    } <= kinds
    conditions = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "Condition"]
    assert conditions[0].code.coding[0].code == "J06.9"
    assert AuditEvent.objects.filter(action="export", patient_id=full_visit.patient_id).exists()


@pytest.mark.django_db
def test_record_pdf_and_csv(full_visit, doctor_user, patient_user, client_for):
    c = client_for(doctor_user)
    pdf = c.get(reverse("patients:export", args=[full_visit.patient_id, "pdf"]))
    text = pdf_text(pdf.content)
    assert (
        "Patient record" in text
        and "Penicillin" in text
        and "J06.9" in text
        and "Paracetamol" in text
    )
    csv_body = c.get(
        reverse("patients:export", args=[full_visit.patient_id, "csv"])
    ).content.decode("utf-8-sig")
    assert "diagnosis" in csv_body and "J06.9" in csv_body and "BMI 21.5" in csv_body
    full_visit.patient.allergies.update(substance='=HYPERLINK("http://evil")')
    csv_body = c.get(
        reverse("patients:export", args=[full_visit.patient_id, "csv"])
    ).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_body  # spreadsheet formulas arrive as text
    own = client_for(patient_user).get(reverse("patients:portal_export", args=["pdf"]))
    assert own.status_code == 200 and own["Content-Type"] == "application/pdf"


# --- Portal ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_portal_shows_visit_allergies_and_access_log(
    full_visit, patient_user, doctor_user, client_for
):
    client_for(doctor_user).get(reverse("patients:chart", args=[full_visit.patient_id]))
    portal = client_for(patient_user)
    home = portal.get(reverse("patients:portal"))
    assert b"Penicillin" in home.content and b"Salbutamol" in home.content
    visits = portal.get(reverse("patients:portal_visits"))
    assert b"Acute upper respiratory infection" in visits.content
    log = portal.get(reverse("patients:portal_access_log"))
    assert doctor_user.full_name.encode() in log.content


@pytest.mark.django_db
def test_portal_contact_edit_only_changes_contact(patient, patient_user, client_for):
    response = client_for(patient_user).post(
        reverse("patients:portal_profile"),
        {
            "email": "new@usc.edu.ph",
            "phone": "0917",
            "address": "<script>x</script>",
            "emergency_contact_name": "",
            "emergency_contact_phone": "",
            "emergency_contact_relation": "",
            "id_number": "HACK",
        },
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "0917" and patient.id_number == "20230001"
    page = client_for(patient_user).get(reverse("patients:portal"))
    assert b"<script>x</script>" not in page.content


# --- Self-registration -----------------------------------------------------------------

SIGNUP = {
    "email": "new.student@usc.edu.ph",
    "password": "a-very-long-pass-2026",
    "id_number": "24000001",
    "first_name": "Nina",
    "last_name": "Nuevo",
    "sex": "F",
    "birth_date": "2005-03-04",
    "patient_type": "student",
}


@pytest.mark.django_db
def test_self_registration_with_email_verification(client, django_capture_on_commit_callbacks):
    """The account is inactive and has no record until the emailed link is opened; only
    then is the new person's record created and linked (a sign-up nobody confirms must not
    hold a record: see test_self_registration.py)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("patients:signup"), SIGNUP)
    assert response.status_code == 200 and b"Check your email" in response.content
    user = User.objects.get(email="new.student@usc.edu.ph")
    assert not user.is_active and not Patient.objects.filter(user=user).exists()
    link = next(line for line in mail.outbox[0].body.split() if "/signup/verify/" in line)
    path = (
        link.split("127.0.0.1:8000")[-1]
        if "127.0.0.1" in link
        else link[link.index("/patients/") :]
    )
    assert client.get(path).status_code == 200
    user.refresh_from_db()
    assert user.is_active and user.patient.id_number == "24000001"
    bad = client.get(reverse("patients:verify_email", args=[signing.dumps({"u": 1}, salt="other")]))
    assert bad.status_code == 400


@pytest.mark.django_db
def test_self_registration_refuses_other_domains(client):
    response = client.post(reverse("patients:signup"), {**SIGNUP, "email": "someone@gmail.com"})
    assert response.status_code == 422 and b"institutional email" in response.content
    assert not User.objects.filter(email="someone@gmail.com").exists()
