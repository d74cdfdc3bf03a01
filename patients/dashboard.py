"""Home dashboard tiles for patient records (a few cheap counts, only for roles that care)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from patients.models import CertificateStatus, MedicalCertificate, Patient, Visit, VisitStatus
from patients.selectors import portal_accounts_awaiting_record
from uscpis.registry import Card, UserCount, clinic_figure

MY_DRAFTS = UserCount(
    "patients.my_unsigned_visits",
    Visit,
    lambda user_id: Visit.objects.filter(provider_id=user_id, status=VisitStatus.DRAFT),
    lambda user: (user.pk,),
)


def cards(user) -> list[Card]:

    out: list[Card] = []
    if user_has_perm(user, "patients.approve_certificate"):
        pending = clinic_figure(
            "patients.certificates_pending",
            lambda: MedicalCertificate.objects.filter(status=CertificateStatus.PENDING).count(),
        )
        out.append(
            Card(
                "Certificates to decide",
                pending,
                "pending requests",
                reverse("patients:certificate_queue"),
                "warn" if pending else "good",
            )
        )
    if user_has_perm(user, "patients.write_medical_visit") or user_has_perm(
        user, "patients.write_dental_visit"
    ):
        drafts = MY_DRAFTS.value(user)
        out.append(
            Card(
                "My unsigned visits",
                drafts,
                "drafts to finish and sign",
                reverse("patients:list"),
                "warn" if drafts else "good",
            )
        )
    if user_has_perm(user, "patients.register"):
        today = timezone.localdate()
        start = timezone.make_aware(timezone.datetime(today.year, today.month, today.day))
        new = clinic_figure(
            f"patients.registered:{today.isoformat()}",
            lambda: Patient.objects.filter(created_at__gte=start).count(),
        )
        out.append(Card("Registered today", new, "new patients", reverse("patients:list")))
        waiting = clinic_figure(
            "patients.portal_waiting", lambda: portal_accounts_awaiting_record().count()
        )
        if waiting:
            out.append(
                Card(
                    "Portal accounts",
                    waiting,
                    "awaiting a patient record",
                    reverse("patients:portal_accounts"),
                    "warn",
                )
            )
    if user_has_perm(user, "patients.portal"):
        patient = Patient.objects.filter(user=user).first()
        if patient is None:
            out.append(
                Card(
                    "My health record",
                    "Pending",
                    "the clinic will connect your record to this account",
                    reverse("patients:portal"),
                    "warn",
                )
            )
        else:
            visits = Visit.objects.filter(patient=patient, status=VisitStatus.SIGNED).count()
            out.append(
                Card("My visits", visits, "see your health record", reverse("patients:portal"))
            )
            ready = MedicalCertificate.objects.filter(
                patient=patient, status=CertificateStatus.APPROVED
            ).count()
            out.append(
                Card(
                    "My certificates",
                    ready,
                    "approved, ready to download",
                    reverse("patients:portal_certificates"),
                    "good" if ready else "neutral",
                )
            )
    return out
