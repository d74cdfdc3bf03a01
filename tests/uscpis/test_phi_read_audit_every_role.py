"""Every URL that serves one patient's data, requested as EVERY role allowed to open it,
leaves exactly one read (or export) event naming that patient, by that user, per request.

Generated from the URL conf: every named URL of the patient-facing namespaces (patients,
appointments, billing, analytics, the REST API, FHIR) must be listed either in ``ONE_PATIENT``
(tested here) or in ``NOT_ONE_PATIENT`` (with the reason), so a new URL fails until someone
says how it is audited. The roles come from each view's declared permission and the role
matrix (``accounts/roles.py``), not from a list kept here. Removing the read audit from any
one view (or access helper) makes a case below fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from accounts.roles import PUBLIC, Role, role_has_perm
from analytics.services.rollups import rollup_refresh_range
from billing.models import Payment
from billing.services import payments
from patients.models import PatientDocument
from patients.services import certificates
from patients.services import visits as visit_services
from tests.api.conftest import api_client, world  # noqa: F401 (fixtures used by name)
from tests.patients.factories import CertificateFactory, VisitFactory
from uscpis.api.permissions import as_tuple, declared_permission

NAMESPACES = ("patients", "appointments", "billing", "analytics", "api", "fhir")
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Read:
    """How to request one URL: the object its kwargs name (a key of the ``phi`` fixture),
    extra kwargs and query, whether only HTMX gets the page, and permissions a role needs
    beyond the view's declared one (object-level rules that depend on the role)."""

    obj: str
    kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    htmx: bool = False
    also: tuple = ()
    kwarg: str = "pk"


# "patient" → the patient's pk; the portal pages name no object (the patient is the user's).
ONE_PATIENT: dict[str, Read] = {
    # --- patients (staff) ---
    "patients:chart": Read("patient"),
    "patients:chart_tab": Read("patient", {"tab": "overview"}),
    "patients:edit": Read("patient"),
    "patients:document_upload": Read("patient"),
    "patients:account_unlink": Read("patient"),
    "patients:visit": Read("visit"),
    "patients:visit_tooth": Read("dental", {"tooth": 11}, htmx=True),
    "patients:document_download": Read("document"),
    "patients:certificate_decide": Read("certificate"),
    "patients:certificate_pdf": Read("approved"),
    "patients:export": Read("patient", {"fmt": "csv"}),
    "patients:portal_accounts": Read("none", query={"for_patient": "patient"}),
    "patients:account_link": Read(
        "unlinked_account", query={"patient": "patient"}, kwarg="user_pk"
    ),
    "patients:verify_certificate": Read("approved_code", kwarg="code"),
    # --- patients (portal) ---
    "patients:portal": Read("none"),
    "patients:portal_profile": Read("none"),
    "patients:portal_visits": Read("none"),
    "patients:portal_visit": Read("visit"),
    "patients:portal_certificates": Read("none"),
    "patients:portal_certificate_pdf": Read("approved"),
    "patients:portal_documents": Read("none"),
    "patients:portal_document_download": Read("document"),
    "patients:portal_access_log": Read("none"),
    "patients:portal_export": Read("none", {"fmt": "csv"}),
    # --- appointments ---
    "appointments:my_list": Read("none"),
    "appointments:my_detail": Read("appointment"),
    "appointments:my_ics": Read("appointment"),
    "appointments:my_reschedule": Read("appointment"),
    "appointments:waitlist_offer": Read("offer"),
    "appointments:staff_detail": Read("appointment"),
    "appointments:staff_ics": Read("appointment"),
    "appointments:staff_reschedule": Read("appointment"),
    "appointments:patient_history": Read("patient", kwarg="patient_pk"),
    # --- billing ---
    "billing:patient": Read("patient", kwarg="patient_pk"),
    "billing:patient_balance": Read("patient", kwarg="patient_pk"),
    "billing:statement": Read("patient", kwarg="patient_pk"),
    "billing:coverage_new": Read("patient", kwarg="patient_pk"),
    "billing:payment_new": Read("patient", kwarg="patient_pk"),
    "billing:invoice": Read("invoice"),
    "billing:invoice_pdf": Read("invoice"),
    "billing:payment": Read("payment"),
    "billing:receipt_pdf": Read("payment"),
    "billing:claim": Read("claim"),
    "billing:my_bills": Read("none"),
    "billing:my_invoice_pdf": Read("invoice"),
    "billing:my_receipt_pdf": Read("payment"),
    "billing:my_statement_pdf": Read("none"),
    # --- analytics drill-down (a list: the event lists the patients, see LISTED) ---
    "analytics:diagnosis_patients": Read("icd10", kwarg="code"),
    "analytics:quality_rows": Read("quality_check", kwarg="check"),
    # --- REST API ---
    "api:patient-list": Read("none", query={"q": "id_number"}),
    "api:patient-detail": Read("patient"),
    "api:patient-allergies": Read("patient"),
    "api:patient-certificates": Read("patient"),
    "api:patient-documents": Read("patient"),
    "api:patient-immunizations": Read("patient"),
    "api:patient-medications": Read("patient"),
    "api:patient-visits": Read("patient"),
    "api:visit-detail": Read("visit"),
    "api:document-detail": Read("document"),
    "api:document-download": Read("document"),
    "api:certificate-detail": Read("certificate"),
    "api:certificate-verify": Read("approved_code", kwarg="code"),
    "api:appointment-list": Read("none", query={"patient": "patient"}),
    "api:appointment-detail": Read("appointment"),
    "api:invoice-list": Read("none", query={"patient": "patient"}),
    "api:invoice-detail": Read("invoice"),
    "api:payment-list": Read("none", query={"patient": "patient"}),
    "api:claim-list": Read("none", query={"patient": "claim_patient"}),
    "api:claim-detail": Read("claim"),
    "api:billing-balance": Read("patient", kwarg="patient_pk"),
    # --- FHIR: every resource that holds patient data, read and searched by _id ---
    "fhir:Patient-everything": Read("fhir", kwarg="resource_id"),
}
for _type in (
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "Immunization",
    "Appointment",
):
    ONE_PATIENT[f"fhir:{_type}-read"] = Read("fhir", kwarg="resource_id")
    ONE_PATIENT[f"fhir:{_type}-search"] = Read("none", query={"_id": "fhir"})

# Pages that show many patients at once: their one event lists the patient in its detail
# (``audit_phi_list``) instead of naming a single patient.
LISTED = {"analytics:diagnosis_patients", "analytics:quality_rows"}
# The patient named is the claim's (the other patient in the ``world`` fixture).
CLAIM_URLS = {"billing:claim", "api:claim-detail", "api:claim-list"}

_WRITE = "a write (POST only, or the GET only redirects); its service records the change"
_NO_PHI = "shows no patient data (configuration, aggregates, catalogue, providers)"
_MANY = "a list of many patients, audited as one list event (audit_phi_list)"
_TOKEN = (
    "a secret-link page (email link, calendar feed): no one signs in, so no role; audited "
    "per request (test_secret_link_pages_record_the_read below)"
)
NOT_ONE_PATIENT: dict[str, str] = {
    **dict.fromkeys(
        [
            "patients:account_create",
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
            "patients:register",
            "patients:signup",
            "patients:verify_email",
            "appointments:my_cancel",
            "appointments:my_provider_feed",
            "appointments:staff_cancel",
            "appointments:staff_transition",
            "appointments:my_feed",
            "appointments:waitlist_join",
            "appointments:book",
            "appointments:staff_book",
            "appointments:walk_in",
            "billing:approval_decide",
            "billing:charge_action",
            "billing:claim_action",
            "billing:invoice_action",
            "billing:invoice_add_line",
            "billing:invoice_line_action",
            "billing:invoice_terms",
            "billing:refund_request",
            "billing:remittance_new",
            "billing:cashier",
            "billing:claim_line_correct",
            "billing:konsulta_capitation",
            "billing:konsulta_register",
            "api:appointment-cancel",
            "api:appointment-check-in",
            "api:appointment-reschedule",
            "api:item-dispense",
            "api:item-receive",
        ],
        _WRITE,
    ),
    **dict.fromkeys(
        [
            "patients:verify",
            "patients:icd10_search",
            "analytics:overview",
            "analytics:visits",
            "analytics:diagnoses",
            "analytics:productivity",
            "analytics:inventory",
            "analytics:financial",
            "analytics:quality",
            "analytics:surveillance",
            "analytics:syndromes",
            "analytics:syndrome_new",
            "analytics:syndrome_edit",
            "analytics:forecasts",
            "analytics:stock_forecast",
            "appointments:schedules",
            "appointments:schedule_edit",
            "appointments:type_new",
            "appointments:type_edit",
            "appointments:report",
            "billing:payer_new",
            "billing:payer_edit",
            "billing:price_lists",
            "billing:price_edit",
            "billing:price_list_copy",
            "billing:reports",
            "api:analytics-kpis",
            "api:appointment-type-list",
            "api:appointment-type-detail",
            "api:free-slots",
            "api:health",
            "api:item-list",
            "api:item-detail",
            "api:item-lots",
            "api:item-movements",
            "api:not-found",
            "api:provider-list",
            "api:provider-detail",
            "api:purchase-order-list",
            "api:purchase-order-detail",
            "api:waitlist-list",
            "fhir:Practitioner-read",
            "fhir:Practitioner-search",
            "fhir:Schedule-read",
            "fhir:Schedule-search",
            "fhir:Slot-read",
            "fhir:Slot-search",
            "fhir:metadata",
            "fhir:not-found",
        ],
        _NO_PHI,
    ),
    **dict.fromkeys(
        [
            "patients:list",
            "patients:certificate_queue",
            "appointments:queue",
            "appointments:calendar",
            "appointments:history",
            "billing:home",
            "billing:invoices",
            "billing:charges",
            "billing:claims",
            "billing:claim_export",
            "billing:approvals",
            "billing:void_register",
            "billing:cashier_day",
            "billing:konsulta",
        ],
        _MANY,
    ),
    **dict.fromkeys(["appointments:email_link", "appointments:feed"], _TOKEN),
}


def _patterns(resolver=None, ns=""):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, ns + (f"{p.namespace}:" if p.namespace else ""))
        elif p.name:
            yield ns + p.name, p.callback


URLS = {
    name: callback
    for name, callback in _patterns()
    if name.split(":", 1)[0] in NAMESPACES and ":" in name
}


def declared(callback) -> str | tuple:
    """The permission a GET of this view declares (function views: ``require_perm``;
    DRF views: ``required_permission(s)``)."""
    cls = getattr(callback, "cls", None)
    if cls is None:
        return callback.required_permission
    action = (getattr(callback, "actions", None) or {}).get("get")
    return declared_permission(cls, "get", action)


def allowed_roles(name: str) -> list[str]:
    """Every role the declared permission (and the entry's ``also``) lets in."""
    perm = declared(URLS[name])
    if perm == PUBLIC:
        return [ANONYMOUS]
    roles = []
    for role in Role:
        if not any(role_has_perm(role, p) for p in as_tuple(perm)):
            continue
        if all(any(role_has_perm(role, p) for p in as_tuple(a)) for a in ONE_PATIENT[name].also):
            roles.append(role)
    return roles


CASES = sorted((name, role) for name in ONE_PATIENT for role in allowed_roles(name))


def test_every_url_is_classified():
    unmapped = URLS.keys() - ONE_PATIENT.keys() - NOT_ONE_PATIENT.keys()
    assert not unmapped, f"URLs with no PHI-read classification: {sorted(unmapped)}"
    stale = (ONE_PATIENT.keys() | NOT_ONE_PATIENT.keys()) - URLS.keys()
    assert not stale, f"classified URLs that no longer exist: {sorted(stale)}"
    assert not ONE_PATIENT.keys() & NOT_ONE_PATIENT.keys()


def test_every_patient_url_has_a_role_that_may_open_it():
    nobody = [name for name in ONE_PATIENT if not allowed_roles(name)]
    assert not nobody, nobody
    # The matrix really is walked: several URLs are tested for several roles.
    assert len(CASES) > len(ONE_PATIENT) + 40


@pytest.fixture
def phi(world, doctor_user, dentist_user, billing_user, make_user):  # noqa: F811
    """The objects the URLs name, all of ``world.patient`` (whose portal account is the
    ``patient_user``) except the claim, which is the other patient's."""
    from appointments.models import OfferStatus, WaitlistEntry, WaitlistOffer

    patient = world.patient
    dental = VisitFactory(
        patient=patient, provider=dentist_user, kind="dental", chief_complaint="Toothache"
    )
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
    payment, _ = payments.payment_record(
        actor=billing_user,
        patient=patient,
        amount=Decimal("100"),
        method="cash",
        idempotency_key="phi-read-test",
    )
    # A signed visit without a diagnosis: the "no-diagnosis" data-quality row.
    undiagnosed = VisitFactory(patient=patient, provider=doctor_user)
    visit_services.visit_sign(actor=doctor_user, visit=undiagnosed)
    # The drill-down lists the days the data-quality rollup holds (refreshed by beat).
    rollup_refresh_range(first=timezone.localdate() - timedelta(days=3), last=timezone.localdate())
    entry = WaitlistEntry.objects.create(
        patient=patient,
        appointment_type=world.consult,
        date_from=world.day,
        date_to=world.day + timedelta(days=7),
    )
    offer = WaitlistOffer.objects.create(
        entry=entry,
        provider=world.doctor,
        start=world.at("14:00"),
        end=world.at("14:30"),
        status=OfferStatus.PENDING,
        expires_at=timezone.now() + timedelta(hours=2),
    )
    unlinked = make_user(role=Role.PATIENT, email="unlinked@example.com")
    visit = world.visit
    fhir_rows = {
        "Patient": patient,
        "Encounter": visit,
        "Observation": visit.vitals.first(),
        "Condition": visit.diagnoses.first(),
        "AllergyIntolerance": patient.allergies.first(),
        "MedicationRequest": visit.prescriptions.first(),
        "Immunization": patient.immunizations.first(),
        "Appointment": world.appointment,
    }
    return {
        "patient": patient.pk,
        "id_number": patient.id_number,
        "visit": visit.pk,
        "dental": dental.pk,
        "document": document.pk,
        "certificate": patient.certificates.exclude(pk=approved.pk).first().pk,
        "approved": approved.pk,
        "approved_code": approved.verification_code,
        "appointment": world.appointment.pk,
        "offer": offer.pk,
        "invoice": world.invoice.pk,
        "payment": payment.pk,
        "claim": world.claim.pk,
        "claim_patient": world.claim.patient_id,
        "icd10": "J06.9",
        "quality_check": "no-diagnosis",
        "unlinked_account": unlinked.pk,
        "fhir_rows": fhir_rows,
        "_patient": patient,
    }


def _fhir_id(name: str, phi) -> str:
    resource = URLS[name].cls.resource
    return resource.to_fhir(phi["fhir_rows"][resource.type])[0]["id"]


def _url(name: str, phi) -> str:
    read = ONE_PATIENT[name]
    kwargs = dict(read.kwargs)
    if read.obj == "fhir":
        kwargs[read.kwarg] = _fhir_id(name, phi)
    elif read.obj != "none":
        kwargs[read.kwarg] = phi[read.obj]
    url = reverse(name, kwargs=kwargs)
    query = {}
    for key, value in read.query.items():
        if value == "fhir":
            query[key] = _fhir_id(name.replace("-search", "-read"), phi)
        else:
            query[key] = phi[value]
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def _client(role, name, user_for_role, client_for, api_client):  # noqa: F811
    if role == ANONYMOUS:
        from django.test import Client

        return None, (api_client() if name.startswith(("api:", "fhir:")) else Client())
    user = user_for_role(role)
    if name.startswith(("api:", "fhir:")):
        return user, api_client(user, scope="read")
    return user, client_for(user)


def _events_of(request_fn, patient_id: int):
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = request_fn()
    events = AuditEvent.objects.filter(
        pk__gt=before, action__in=[AuditAction.READ, AuditAction.EXPORT]
    )
    return response, events


def _check(name, role, phi, user_for_role, client_for, api_client) -> str:  # noqa: F811
    """'' when the request as ``role`` left exactly one event naming the patient, by that
    user, with that path; else what went wrong."""
    patient_id = phi["claim_patient"] if name in CLAIM_URLS else phi["patient"]
    user, client = _client(role, name, user_for_role, client_for, api_client)
    url = _url(name, phi)
    headers = {"HX-Request": "true"} if ONE_PATIENT[name].htmx else {}
    response, events = _events_of(lambda: client.get(url, headers=headers), patient_id)
    seen = list(events.values("action", "object_type", "patient_id", "detail"))
    if response.status_code != 200:
        return f"{role}: GET {url} → {response.status_code}"
    if name in LISTED:
        listing = [e for e in events if patient_id in (e.detail.get("patients") or [])]
        if len(events) != 1 or len(listing) != 1:
            return f"{role}: GET {url}: expected one event listing the patient, got {seen}"
        return ""
    naming = list(events.filter(patient_id=patient_id))
    if len(naming) != 1:
        return f"{role}: GET {url}: expected one read/export naming the patient, got {seen}"
    event = naming[0]
    if event.actor_id != (user.pk if user else None):
        return f"{role}: GET {url}: event by {event.actor_id}, not by the requesting user"
    if not event.path.startswith(url.split("?")[0]):
        return f"{role}: GET {url}: event path {event.path!r}"
    return ""


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ONE_PATIENT))
def test_one_read_event_naming_the_patient_for_every_allowed_role(
    name,
    phi,
    user_for_role,
    client_for,
    api_client,  # noqa: F811
):
    roles = allowed_roles(name)
    wrong = [
        problem
        for role in roles
        if (problem := _check(name, role, phi, user_for_role, client_for, api_client))
    ]
    assert not wrong, f"{name} (roles {roles}):\n" + "\n".join(wrong)


@pytest.mark.django_db
def test_secret_link_pages_record_the_read(phi):
    """The pages opened by a secret link (no one signs in) record what they serve: the
    email link's GET and the patient's calendar feed one read naming the patient, the
    provider's feed one list event naming its patients; a bad token records nothing."""
    from django.test import Client

    from appointments.models import Appointment
    from appointments.services import feeds, links

    appointment = Appointment.objects.select_related("provider").get(pk=phi["appointment"])
    patient_id = appointment.patient_id
    client = Client()

    link = reverse("appointments:email_link", args=[links.link_token(appointment, "cancel")])
    response, events = _events_of(lambda: client.get(link), patient_id)
    assert response.status_code == 200
    assert [(e.patient_id, e.actor_id, e.detail["via"]) for e in events] == [
        (patient_id, None, "email link")
    ]

    feed = feeds.patient_feed_regenerate(actor=None, patient=appointment.patient)
    url = reverse("appointments:feed", args=[feed.token])
    response, events = _events_of(lambda: client.get(url), patient_id)
    assert response.status_code == 200 and b"BEGIN:VCALENDAR" in response.content
    assert [(e.patient_id, e.detail["via"]) for e in events] == [(patient_id, "calendar feed")]

    provider = feeds.provider_feed_regenerate(actor=None, provider=appointment.provider)
    url = reverse("appointments:feed", args=[provider.feed_token])
    response, events = _events_of(lambda: client.get(url), patient_id)
    assert response.status_code == 200
    assert len(events) == 1 and patient_id in events[0].detail["patients"]

    bad_link = reverse("appointments:email_link", args=["not-a-token"])
    for bad in (reverse("appointments:feed", args=["nope"]), bad_link):
        response, events = _events_of(lambda u=bad: client.get(u), patient_id)
        assert response.status_code in (400, 404) and not events.exists()


@pytest.mark.django_db
def test_the_patient_sees_secret_link_reads_in_who_accessed_my_record(phi, client_for):
    from django.test import Client

    from appointments.services import feeds
    from patients.models import Patient

    patient = Patient.objects.select_related("user").get(pk=phi["patient"])
    feed = feeds.patient_feed_regenerate(actor=None, patient=patient)
    Client().get(reverse("appointments:feed", args=[feed.token]))
    body = client_for(patient.user).get(reverse("patients:portal_access_log")).content.decode()
    assert "Your calendar feed link" in body


MANY_URLS = sorted(name for name, why in NOT_ONE_PATIENT.items() if why == _MANY)
# List pages whose URL names one object (the cashier's day the payments were taken on).
LIST_KWARGS = {
    "billing:cashier_day": lambda phi: {
        "pk": Payment.objects.get(pk=phi["payment"]).cashier_day_id
    },
}


def _list_roles(name: str) -> list:
    perm = declared(URLS[name])
    return [r for r in Role if any(role_has_perm(r, p) for p in as_tuple(perm))]


@pytest.mark.django_db
@pytest.mark.parametrize("name", MANY_URLS)
def test_list_pages_record_one_event_for_what_they_show(
    name,
    phi,
    user_for_role,
    client_for,
    api_client,  # noqa: F811
):
    """A page listing many patients leaves one read/export event for the request (naming
    no single patient, or the one patient when the page shows only them), never one per
    row and never none while it shows patients; as every role that may open it."""
    wrong = []
    for role in _list_roles(name):
        user, client = _client(role, name, user_for_role, client_for, api_client)
        url = reverse(name, kwargs=LIST_KWARGS.get(name, lambda phi: {})(phi))
        response, events = _events_of(lambda u=url, c=client: c.get(u), phi["patient"])
        if response.status_code in (301, 302) and not events.exists():
            continue  # nothing shown (e.g. an export that needs its period first)
        if response.status_code != 200:
            wrong.append(f"{role}: GET {url} → {response.status_code}")
            continue
        patient = phi["_patient"]
        shows_patient = (
            any(
                mark.encode() in response.content
                for mark in (patient.id_number, f"{patient.last_name}, {patient.first_name}")
            )
            or patient.full_name.encode() in response.content
        )
        events = list(events)
        if len(events) > 1 or (shows_patient and len(events) != 1):
            seen = [(e.action, e.object_type, e.patient_id) for e in events]
            wrong.append(f"{role}: GET {url}: shows the patient: {shows_patient}, events {seen}")
        elif events and events[0].actor_id != user.pk:
            wrong.append(f"{role}: GET {url}: event by {events[0].actor_id}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
