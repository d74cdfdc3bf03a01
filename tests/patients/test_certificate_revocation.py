"""Revoking an approved medical certificate: permission matrix, the flow, the public
verification page, the patient's portal and PDF, and the refusals."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.models import AuditEvent, Notification
from accounts.roles import Role
from patients.models import CertificateStatus
from patients.services import certificates
from tests.patients.factories import CertificateFactory


@pytest.fixture
def approved(patient, patient_user, doctor_user):
    today = timezone.localdate()
    return CertificateFactory(
        patient=patient,
        requested_by=patient_user,
        status=CertificateStatus.APPROVED,
        findings="Mild asthma, controlled",
        fitness="fit",
        valid_from=today,
        valid_until=today + timedelta(days=30),
        decided_by=doctor_user,
        decided_at=timezone.now(),
    )


def _revoke_url(cert) -> str:
    return reverse("patients:certificate_revoke", args=[cert.pk])


@pytest.mark.django_db
def test_revoke_permission_matrix(approved, user_for_role, client_for, client):
    url = _revoke_url(approved)
    anon = client.post(url, {"revoke_reason": "Issued in error"})
    assert anon.status_code == 302 and "/login/" in anon["Location"]
    for role in Role.values:
        if role == Role.DOCTOR:
            continue
        response = client_for(user_for_role(role)).post(url, {"revoke_reason": "x"})
        assert response.status_code == 403, role
    approved.refresh_from_db()
    assert approved.status == CertificateStatus.APPROVED
    doctor = client_for(user_for_role(Role.DOCTOR))
    missing = reverse("patients:certificate_revoke", args=[999999])
    assert doctor.post(missing, {"revoke_reason": "x"}).status_code == 404
    assert doctor.get(url).status_code == 405  # POST only
    response = doctor.post(url, {"revoke_reason": "Issued in error"})
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.status == CertificateStatus.REVOKED


@pytest.mark.django_db
def test_service_refuses_non_approvers(approved, nurse_user, patient_user):
    for actor in (nurse_user, patient_user):
        with pytest.raises(PermissionDenied):
            certificates.certificate_revoke(actor=actor, certificate=approved, reason="Wrong")


@pytest.mark.django_db
def test_revoke_flow_audit_notification_and_pages(
    approved, patient_user, doctor_user, client_for, client, django_capture_on_commit_callbacks
):
    doctor = client_for(doctor_user)
    page = doctor.get(reverse("patients:certificate_decide", args=[approved.pk]))
    assert b"Revoke certificate" in page.content and b'id="revoke-form"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = doctor.post(_revoke_url(approved), {"revoke_reason": "Wrong patient selected"})
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.status == CertificateStatus.REVOKED
    assert approved.revoked_by == doctor_user and approved.revoked_at is not None
    assert approved.revoke_reason == "Wrong patient selected"
    event = AuditEvent.objects.filter(
        action="update", object_id=str(approved.pk), patient_id=approved.patient_id
    ).latest("id")
    assert event.detail["status"] == "revoked"
    note = Notification.objects.get(user=patient_user, title__contains="revoked")
    assert approved.verification_code in note.body
    assert "asthma" not in note.body.lower() and "Wrong patient" not in note.body
    # Staff page: revoked, with the reason; no revoke form any more.
    page = doctor.get(reverse("patients:certificate_decide", args=[approved.pk]))
    assert b'id="revoked-notice"' in page.content and b"Wrong patient selected" in page.content
    assert b'id="revoke-form"' not in page.content
    # Public verification: revoked on <date>, not authentic, no reason, no findings.
    verify = client.get(reverse("patients:verify_certificate", args=[approved.verification_code]))
    day = dateformat.format(timezone.localtime(approved.revoked_at), "j F Y")
    assert f"Revoked on {day}".encode() in verify.content
    assert b"Authentic" not in verify.content
    assert b"Wrong patient" not in verify.content and b"asthma" not in verify.content
    # Portal: listed as revoked, PDF refused.
    portal = client_for(patient_user)
    mine = portal.get(reverse("patients:portal_certificates"))
    assert b"Revoked" in mine.content
    assert reverse("patients:portal_certificate_pdf", args=[approved.pk]).encode() not in (
        mine.content
    )
    pdf = portal.get(reverse("patients:portal_certificate_pdf", args=[approved.pk]))
    assert pdf.status_code == 404
    assert doctor.get(reverse("patients:certificate_pdf", args=[approved.pk])).status_code == 404


@pytest.mark.django_db
def test_verification_page_states(approved, patient_user, doctor_user, client):
    url = reverse("patients:verify_certificate", args=[approved.verification_code])
    assert b"Authentic and currently valid" in client.get(url).content
    pending = CertificateFactory(patient=approved.patient, requested_by=patient_user)
    page = client.get(reverse("patients:verify_certificate", args=[pending.verification_code]))
    assert b"No approved certificate" in page.content
    certificates.certificate_revoke(actor=doctor_user, certificate=approved, reason="Error")
    page = client.get(url)
    assert b"Revoked on" in page.content and b"Authentic" not in page.content
    assert b'role="alert"' in page.content


@pytest.mark.django_db
def test_double_revoke_and_non_approved_refused(approved, patient_user, doctor_user, client_for):
    certificates.certificate_revoke(actor=doctor_user, certificate=approved, reason="Error")
    with pytest.raises(ValidationError) as exc:
        certificates.certificate_revoke(actor=doctor_user, certificate=approved, reason="Again")
    assert "already been revoked" in str(exc.value)
    response = client_for(doctor_user).post(_revoke_url(approved), {"revoke_reason": "Again"})
    assert response.status_code == 422 and b"already been revoked" in response.content
    approved.refresh_from_db()
    assert approved.revoke_reason == "Error"
    pending = CertificateFactory(patient=approved.patient, requested_by=patient_user)
    with pytest.raises(ValidationError):
        certificates.certificate_revoke(actor=doctor_user, certificate=pending, reason="Error")


@pytest.mark.django_db
def test_reason_required(approved, doctor_user, client_for):
    with pytest.raises(ValidationError) as exc:
        certificates.certificate_revoke(actor=doctor_user, certificate=approved, reason="   ")
    assert "revoke_reason" in exc.value.message_dict
    response = client_for(doctor_user).post(_revoke_url(approved), {"revoke_reason": ""})
    assert response.status_code == 422 and b"This field is required" in response.content
    approved.refresh_from_db()
    assert approved.status == CertificateStatus.APPROVED


@pytest.mark.django_db
def test_reason_and_names_escaped(approved, doctor_user, client_for, client):
    patient = approved.patient
    patient.first_name = "<script>alert(1)</script>"
    patient.save(update_fields=["first_name"])
    doctor = client_for(doctor_user)
    doctor.post(_revoke_url(approved), {"revoke_reason": "<b>bold</b> & <script>x</script>"})
    page = doctor.get(reverse("patients:certificate_decide", args=[approved.pk]))
    assert b"<b>bold</b>" not in page.content and b"&lt;b&gt;bold&lt;/b&gt;" in page.content
    verify = client.get(reverse("patients:verify_certificate", args=[approved.verification_code]))
    assert b"<script>alert(1)</script>" not in verify.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in verify.content
    assert b"bold" not in verify.content


@pytest.mark.django_db
def test_database_requires_revocation_fields(approved):
    from patients.models import MedicalCertificate

    with pytest.raises(IntegrityError), transaction.atomic():
        MedicalCertificate.objects.filter(pk=approved.pk).update(status=CertificateStatus.REVOKED)
    with pytest.raises(IntegrityError), transaction.atomic():
        MedicalCertificate.objects.filter(pk=approved.pk).update(revoke_reason="stray")


@pytest.mark.django_db
def test_chart_links_approved_certificate_to_its_page(
    approved, doctor_user, nurse_user, client_for
):
    url = reverse("patients:chart_tab", args=[approved.patient_id, "certificates"])
    manage = reverse("patients:certificate_decide", args=[approved.pk]).encode()
    assert manage in client_for(doctor_user).get(url).content
    assert manage not in client_for(nurse_user).get(url).content
