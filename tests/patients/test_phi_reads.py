"""Every URL that serves one patient's data leaves exactly one read (or export) event naming
that patient per request — generated from the URL conf, so a new patient URL without an
entry here fails rather than going untested."""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import AuditEvent
from patients.models import PatientDocument
from patients.services import certificates, visits
from tests.patients.factories import CertificateFactory, VisitFactory

# URL names in scope: the patients site, the patient-record API and FHIR Patient.
IN_SCOPE = re.compile(
    r"^(patients:.*|api:(patient|visit|document|certificate)-.*|fhir:Patient-.*)$"
)
# (object, role fixture, extra kwargs) for each URL that shows one patient's data on GET.
READS = {
    "patients:chart": ("patient", "doctor_user", {}),
    "patients:chart_tab": ("patient", "doctor_user", {"tab": "timeline"}),
    "patients:edit": ("patient", "front_desk_user", {}),
    "patients:document_upload": ("patient", "nurse_user", {}),
    "patients:account_unlink": ("patient", "front_desk_user", {}),
    "patients:visit": ("visit", "doctor_user", {}),
    "patients:visit_tooth": ("dental", "dentist_user", {"tooth": 11}),
    "patients:document_download": ("document", "nurse_user", {}),
    "patients:certificate_decide": ("certificate", "doctor_user", {}),
    "patients:certificate_pdf": ("approved", "doctor_user", {}),
    "patients:export": ("patient", "doctor_user", {"fmt": "csv"}),
    "patients:portal_visit": ("visit", "patient_user", {}),
    "patients:portal_certificate_pdf": ("approved", "patient_user", {}),
    "patients:portal_document_download": ("document", "patient_user", {}),
    "patients:portal_export": (None, "patient_user", {"fmt": "csv"}),
    "api:patient-detail": ("patient", "doctor_user", {}),
    "api:patient-allergies": ("patient", "doctor_user", {}),
    "api:patient-certificates": ("patient", "doctor_user", {}),
    "api:patient-documents": ("patient", "doctor_user", {}),
    "api:patient-immunizations": ("patient", "doctor_user", {}),
    "api:patient-medications": ("patient", "doctor_user", {}),
    "api:patient-visits": ("patient", "doctor_user", {}),
    "api:visit-detail": ("visit", "doctor_user", {}),
    "api:document-detail": ("document", "doctor_user", {}),
    "api:document-download": ("document", "doctor_user", {}),
    "api:certificate-detail": ("certificate", "doctor_user", {}),
    "fhir:Patient-read": ("patient", "doctor_user", {}),
    "fhir:Patient-everything": ("patient", "doctor_user", {}),
}
# Answered with the partial only to an HTMX request (a plain GET redirects to the page).
HTMX_ONLY = {"patients:visit_tooth"}
# Taking an object kwarg but serving no patient data on GET: writes (POST only, audited by
# their service as create/update), or public pages that do not take a patient record.
NOT_READS = {
    "patients:account_create",
    "patients:account_link",
    "patients:allergy_add",
    "patients:allergy_deactivate",
    "patients:medication_add",
    "patients:medication_stop",
    "patients:history_add",
    "patients:immunization_add",
    "patients:visit_new",
    "patients:visit_notes",
    "patients:visit_vitals",
    "patients:visit_diagnosis_add",
    "patients:visit_diagnosis_remove",
    "patients:visit_prescription_add",
    "patients:visit_prescription_remove",
    "patients:visit_sign",
    "patients:visit_addendum",
    "patients:certificate_new",
    "patients:certificate_revoke",
    "patients:verify_certificate",
    "api:certificate-verify",
    "patients:verify_email",
}


def _patterns(resolver=None, prefix="", ns=""):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(
                p, prefix + str(p.pattern), ns + (f"{p.namespace}:" if p.namespace else "")
            )
        elif p.name:
            yield ns + p.name, prefix + str(p.pattern)


def _object_urls() -> set[str]:
    names = set()
    for name, route in _patterns():
        if IN_SCOPE.match(name) and (re.search(r"<[^>]+>|\(\?P<", route)):
            names.add(name)
    return names


def test_every_patient_url_is_mapped():
    unmapped = _object_urls() - READS.keys() - NOT_READS
    assert not unmapped, f"patient URLs with no PHI-read test mapping: {sorted(unmapped)}"
    assert not (READS.keys() - _object_urls()), "mapping names a URL that no longer exists"


def _api_client(user) -> APIClient:
    client = APIClient()
    _, secret = account_services.api_token_create(actor=user, name="phi", scope="read")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def records(patient, doctor_user, dental_visit):
    visit = VisitFactory(patient=patient, provider=doctor_user)
    visits.visit_sign(actor=doctor_user, visit=visit)
    cert = CertificateFactory(patient=patient, requested_by=doctor_user)
    approved = CertificateFactory(patient=patient, requested_by=doctor_user)
    today = timezone.localdate()
    certificates.certificate_decide(
        actor=doctor_user,
        certificate=approved,
        approve=True,
        findings="Well",
        fitness="fit",
        valid_from=today,
        valid_until=today + timedelta(days=7),
    )
    approved.refresh_from_db()
    document = PatientDocument(
        patient=patient,
        kind="other",
        title="CBC",
        sha256="0" * 64,
        uploaded_by=doctor_user,
        original_name="cbc.txt",
        content_type="text/plain",
        size=5,
    )
    document.file.save("cbc.txt", ContentFile(b"x-ray"), save=False)
    document.save()
    return {
        "patient": patient,
        "visit": visit,
        "certificate": cert,
        "approved": approved,
        "document": document,
        "dental": dental_visit,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(READS))
def test_one_read_event_per_request(name, records, request, client_for):
    key, role, extra = READS[name]
    user = request.getfixturevalue(role)
    obj = records[key] if key else None
    kwargs = dict(extra)
    if obj is not None:
        kwargs["resource_id" if name.startswith("fhir:") else "pk"] = obj.pk
    url = reverse(name, kwargs=kwargs)
    client = _api_client(user) if name.startswith(("api:", "fhir:")) else client_for(user)
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    headers = {"HX-Request": "true"} if name in HTMX_ONLY else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (name, url, response.status_code)
    events = AuditEvent.objects.filter(
        pk__gt=before, action__in=["read", "export"], patient_id=records["patient"].pk
    )
    assert events.count() == 1, (name, list(events.values("action", "object_type", "detail")))
    assert events.get().actor == user
