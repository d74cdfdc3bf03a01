"""``Patient/{id}/$everything``: every resource it returns is exactly what the resource's
own read endpoint serves, it holds only the patient's signed record, its query count does
not grow with the record (it is built from one ``values_list`` query per resource type),
each call is one EXPORT audit event, and its lean JSON encoding gives the same bytes as the
standard renderer."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent
from patients.models import Prescription
from patients.services import records as record_services
from patients.services import visits as visit_services
from tests.api.fhir_validation import validate
from uscpis.api.fhir import BulkJSONRenderer, FhirBulkJSONRenderer, FhirJSONRenderer

pytestmark = pytest.mark.django_db

FHIR = "application/fhir+json"
# Resource types the bundle holds that the API also serves one by one.
SERVED = {
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "Immunization",
}


def _signed_visit(doctor, patient, *, days_ago: int, addendum: str = "", kind="medical"):
    visit = visit_services.visit_start(actor=doctor, patient=patient, kind=kind)
    visit.started_at = timezone.now() - timedelta(days=days_ago)
    visit.save(update_fields=["started_at"])
    visit_services.visit_update_notes(
        actor=doctor, visit=visit, data={"chief_complaint": f"Check-up {days_ago}"}
    )
    visit_services.vitals_record(
        actor=doctor,
        visit=visit,
        values={
            "temperature_c": Decimal("36.9"),
            "systolic": 118,
            "diastolic": 76,
            "spo2": 98,
            "respiratory_rate": 16,
        },
    )
    visit_services.diagnosis_add(actor=doctor, visit=visit, code="J06.9", is_primary=True)
    Prescription.objects.create(
        visit=visit, drug_name="Cetirizine", dose="10 mg", frequency="once daily", quantity=7
    )
    visit_services.visit_sign(actor=doctor, visit=visit)
    if addendum:
        visit_services.addendum_add(actor=doctor, visit=visit, text=addendum)
    return visit


@pytest.fixture
def record(world, doctor_user):
    """The world's patient, plus: two more signed visits (one with an addendum, text
    with markup and a line break), a draft visit, an active medication, and an allergy
    that is no longer active (neither the draft nor the inactive allergy is exported)."""
    p = world.patient
    _signed_visit(doctor_user, p, days_ago=3, addendum="BP re-checked <normal>\nNo fever.")
    _signed_visit(doctor_user, p, days_ago=9)
    visit_services.visit_start(actor=doctor_user, patient=p, kind="medical")  # draft
    record_services.medication_add(
        actor=doctor_user, patient=p, name="Salbutamol", dose="2 puffs", frequency="as needed"
    )
    old = record_services.allergy_add(
        actor=doctor_user, patient=p, substance="Latex", reaction="Rash", severity="mild"
    )
    record_services.allergy_deactivate(actor=doctor_user, allergy=old)
    p.philhealth_pin = "121234567891"
    p.save(update_fields=["philhealth_pin"])
    return world


def _everything(client, pk, accept=FHIR):
    r = client.get(f"/fhir/R4/Patient/{pk}/$everything", HTTP_ACCEPT=accept)
    assert r.status_code == 200, r.content[:500]
    return r


def test_every_resource_is_what_its_read_endpoint_serves(record, api_client, doctor_user):
    client = api_client(doctor_user)
    bundle = _everything(client, record.patient.pk).json()
    validate(bundle)
    assert bundle["total"] == len(bundle["entry"])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert set(kinds) == SERVED | {"MedicationStatement", "DocumentReference"}
    assert kinds[0] == "Patient" and bundle["entry"][0]["search"] == {"mode": "match"}
    assert kinds.count("Encounter") == 3  # signed visits only: not the draft
    compared = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        validate(resource)
        assert f"Patient/{record.patient.pk}" in json.dumps(resource) or (
            resource["resourceType"] == "Patient" and resource["id"] == str(record.patient.pk)
        )
        if resource["resourceType"] not in SERVED:
            continue
        read = client.get(urlsplit(entry["fullUrl"]).path, HTTP_ACCEPT=FHIR)
        assert read.status_code == 200, entry["fullUrl"]
        assert read.json() == resource, entry["fullUrl"]
        compared += 1
    assert compared == len([k for k in kinds if k in SERVED])
    # Encounters name the practitioner by reference, and the reference resolves.
    enc = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    )
    practitioner = enc["participant"][0]["individual"]["reference"]
    assert client.get(f"/fhir/R4/{practitioner}", HTTP_ACCEPT=FHIR).status_code == 200
    allergies = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "AllergyIntolerance"
    ]
    assert "Latex" not in json.dumps(allergies)
    doc = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    )
    assert "&lt;normal&gt;<br/>No fever." in doc["text"]["div"]
    pin = next(
        i for i in bundle["entry"][0]["resource"]["identifier"] if i["value"] == "12-123456789-1"
    )
    assert pin["system"] == "http://philhealth.gov.ph/fhir/Identifier/philhealth-id"


def test_it_is_the_downloaded_record_with_the_api_patient_and_practitioner_references(
    record, api_client, doctor_user
):
    from patients.exports.fhir import fhir_bundle

    everything = _everything(api_client(doctor_user), record.patient.pk).json()["entry"]
    download = fhir_bundle(record.patient)["entry"]
    assert [e["resource"]["id"] for e in everything] == [e["resource"]["id"] for e in download]
    for mine, theirs in zip(everything[1:], download[1:], strict=True):
        mine, theirs = dict(mine["resource"]), dict(theirs["resource"])
        if mine["resourceType"] == "Encounter":
            assert (
                mine.pop("participant")[0]["individual"]["display"]
                == theirs.pop("participant")[0]["individual"]["display"]
            )
        assert mine == theirs


def test_query_count_does_not_grow_with_the_record(
    record, api_client, doctor_user, django_assert_max_num_queries
):
    client = api_client(doctor_user)
    pk = record.patient.pk
    _everything(client, pk)  # warm the token's last-used stamp and caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            _everything(client, pk)
        return len(ctx.captured_queries)

    small = count()
    for days in range(20, 32):
        _signed_visit(doctor_user, record.patient, days_ago=days, addendum=f"Note {days}")
    with django_assert_max_num_queries(small):
        bundle = _everything(client, pk).json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("Encounter") == 15
    # The record itself: allergies, medications, immunizations, visits, diagnoses,
    # vitals, prescriptions, addenda (8 queries); the rest is the token, the patient and
    # the audit event.
    assert small <= 20


def test_each_call_is_one_export_audit_event(record, api_client, doctor_user):
    client = api_client(doctor_user)
    before = AuditEvent.objects.filter(patient_id=record.patient.pk).count()
    _everything(client, record.patient.pk)
    events = AuditEvent.objects.filter(patient_id=record.patient.pk).order_by("pk")[before:]
    assert [(e.action, e.detail.get("operation")) for e in events] == [("export", "$everything")]


def test_plain_json_accept_gets_the_same_bundle(record, api_client, doctor_user):
    client = api_client(doctor_user)
    fhir = _everything(client, record.patient.pk).json()
    plain = _everything(client, record.patient.pk, accept="application/json")
    assert plain["Content-Type"].startswith(FHIR)
    body = plain.json()
    fhir.pop("timestamp"), body.pop("timestamp")
    assert body == fhir


@pytest.mark.parametrize("renderer", [FhirBulkJSONRenderer, BulkJSONRenderer])
def test_lean_renderer_gives_the_standard_renderers_bytes(renderer):
    body = {
        "resourceType": "Bundle",
        "entry": [
            {"text": 'Sofía Quiñones \u2028 line \u2029 para "quoted" \\ <b>', "n": 1},
            {"value": 37.8, "ok": True, "none": None, "list": [1, 2.5, "三"]},
        ],
    }
    assert renderer().render(body) == FhirJSONRenderer().render(body)
    pretty = "application/fhir+json; indent=2"
    assert renderer().render(body, pretty, {}) == FhirJSONRenderer().render(body, pretty, {})
