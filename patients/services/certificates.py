"""Medical certificates: requests, decisions and revocation, with verification codes."""

from __future__ import annotations

import secrets
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import user_has_perm
from accounts.services import notify
from patients.models import (
    CertificateStatus,
    Fitness,
    MedicalCertificate,
    Patient,
)
from patients.signals import certificate_approved


def _new_verification_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


@transaction.atomic
def certificate_request(
    *, actor: User | None, patient: Patient, purpose: str
) -> MedicalCertificate:
    """Request a certificate: a patient for themself (portal) or staff on their behalf.

    The request goes straight to ``pending`` (the doctor's queue).
    """
    is_self = patient.user_id == actor.pk and user_has_perm(actor, "patients.portal")
    if not is_self and not user_has_perm(actor, "patients.view_clinical"):
        raise PermissionDenied("You cannot request a certificate for this patient.")
    if not purpose.strip():
        raise ValidationError({"purpose": "State what the certificate is for."})
    if (
        MedicalCertificate.objects.filter(patient=patient, status=CertificateStatus.PENDING).count()
        >= 3
    ):
        raise ValidationError("There are already three pending requests for this patient.")
    cert = MedicalCertificate.objects.create(
        patient=patient,
        requested_by=actor,
        purpose=purpose.strip(),
        status=CertificateStatus.PENDING,
        verification_code=_new_verification_code(),
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=cert,
        patient_id=patient.pk,
        detail={"purpose": cert.purpose},
    )
    return cert


@transaction.atomic
def certificate_decide(
    *,
    actor: User | None,
    certificate: MedicalCertificate,
    approve: bool,
    findings: str = "",
    fitness: str = "",
    fitness_reason: str = "",
    valid_from: date | None = None,
    valid_until: date | None = None,
    recommendations: str = "",
    rejection_reason: str = "",
) -> MedicalCertificate:
    """Approve or reject a pending certificate (doctors). Only one decision can ever win:
    the row is locked and must still be pending. Notifies the patient after commit."""
    if not user_has_perm(actor, "patients.approve_certificate"):
        raise PermissionDenied("Only doctors decide certificates.")
    cert = (
        MedicalCertificate.objects.select_for_update()
        .select_related("patient")
        .get(pk=certificate.pk)
    )
    if cert.status != CertificateStatus.PENDING:
        raise ValidationError("This certificate has already been decided.", code="decided")
    if approve:
        errors = {}
        if fitness not in Fitness.values:
            errors["fitness"] = "Choose fit or not fit."
        if fitness == Fitness.NOT_FIT and not fitness_reason.strip():
            errors["fitness_reason"] = "Give the reason the patient is not fit."
        if not valid_from:
            errors["valid_from"] = "Enter the first valid date."
        if not valid_until:
            errors["valid_until"] = "Enter the last valid date."
        elif valid_from and valid_until < valid_from:
            errors["valid_until"] = "The validity ends before it starts."
        elif valid_from and (valid_until - valid_from).days > 366:
            errors["valid_until"] = "A certificate is valid for one year at most."
        if errors:
            raise ValidationError(errors)
        cert.status = CertificateStatus.APPROVED
        cert.findings, cert.fitness, cert.fitness_reason = findings, fitness, fitness_reason
        cert.valid_from, cert.valid_until, cert.recommendations = (
            valid_from,
            valid_until,
            recommendations,
        )
    else:
        if not rejection_reason.strip():
            raise ValidationError({"rejection_reason": "Give the reason for rejecting."})
        cert.status = CertificateStatus.REJECTED
        cert.rejection_reason = rejection_reason.strip()
    cert.decided_by, cert.decided_at = actor, timezone.now()
    cert.save()
    if approve:
        certificate_approved.send(sender=MedicalCertificate, certificate=cert)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=cert,
        patient_id=cert.patient_id,
        detail={"status": cert.status},
    )
    if cert.patient.user_id:
        verb = "approved" if approve else "rejected"
        notify(
            user=cert.patient.user,
            title=f"Your medical certificate was {verb}",
            body=(
                f"Your certificate request for “{cert.purpose}” was {verb}."
                + ("" if approve else f" Reason: {cert.rejection_reason}")
            ),
            url=reverse("patients:portal_certificates"),
            category="certificate",
        )
    return cert


@transaction.atomic
def certificate_revoke(
    *, actor: User | None, certificate: MedicalCertificate, reason: str
) -> MedicalCertificate:
    """Revoke an approved certificate issued in error (whoever may approve certificates).
    The row is locked and must still be approved, so a second revocation is refused. The
    public verification page then reports it revoked; the reason stays with staff and the
    patient's notification carries no clinical details."""
    if not user_has_perm(actor, "patients.approve_certificate"):
        raise PermissionDenied("Only doctors revoke certificates.")
    cert = (
        MedicalCertificate.objects.select_for_update()
        .select_related("patient")
        .get(pk=certificate.pk)
    )
    if cert.status == CertificateStatus.REVOKED:
        raise ValidationError("This certificate has already been revoked.", code="revoked")
    if cert.status != CertificateStatus.APPROVED:
        raise ValidationError("Only an approved certificate can be revoked.", code="not_approved")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"revoke_reason": "Give the reason for revoking."})
    if len(reason) > 255:
        raise ValidationError({"revoke_reason": "Keep the reason under 255 characters."})
    cert.status = CertificateStatus.REVOKED
    cert.revoked_by, cert.revoked_at, cert.revoke_reason = actor, timezone.now(), reason
    cert.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_reason", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=cert,
        patient_id=cert.patient_id,
        detail={"status": cert.status, "reason": reason},
    )
    if cert.patient.user_id:
        notify(
            user=cert.patient.user,
            title="Your medical certificate was revoked",
            body=(
                f"Your medical certificate {cert.verification_code} was revoked by the clinic "
                "and is no longer valid. Contact the clinic if you have questions."
            ),
            url=reverse("patients:portal_certificates"),
            category="certificate",
        )
    return cert
