"""FHIR R4 interface: read, search with the common parameters (searchset Bundles with paging
links), $everything, the CapabilityStatement, OperationOutcome for unsupported parameters,
PH Core identifiers, and every emitted resource valid under fhir.resources R4B."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from accounts.models import AuditEvent
from tests.api.fhir_validation import validate

pytestmark = pytest.mark.django_db

FHIR = "application/fhir+json"


def _get(client, url, **params):
    r = client.get(url, params, HTTP_ACCEPT=FHIR)
    assert r["Content-Type"].startswith(FHIR), (url, r["Content-Type"])
    return r


def test_metadata_lists_exactly_what_is_served(api_client):
    r = _get(api_client(), "/fhir/R4/metadata")
    assert r.status_code == 200
    cap = r.json()
    validate(cap)
    types = {res["type"] for res in cap["rest"][0]["resource"]}
    assert types == {
        "Patient",
        "Practitioner",
        "Encounter",
        "Observation",
        "Condition",
        "AllergyIntolerance",
        "MedicationRequest",
        "Immunization",
        "Appointment",
        "Slot",
        "Schedule",
    }
    patient = next(res for res in cap["rest"][0]["resource"] if res["type"] == "Patient")
    assert {p["name"] for p in patient["searchParam"]} == {"_id", "identifier", "name", "birthdate"}
    assert patient["operation"][0]["name"] == "everything"


@pytest.mark.parametrize(
    "resource,params",
    [
        ("Patient", {}),
        ("Practitioner", {}),
        ("Encounter", {"patient": "{patient}"}),
        ("Observation", {"patient": "Patient/{patient}"}),
        ("Condition", {"patient": "{patient}"}),
        ("AllergyIntolerance", {"patient": "{patient}"}),
        ("MedicationRequest", {"patient": "{patient}"}),
        ("Immunization", {"patient": "{patient}"}),
        ("Appointment", {"patient": "{patient}"}),
        ("Schedule", {}),
        ("Slot", {"service-type": "{consult}"}),
    ],
)
def test_every_search_returns_a_valid_searchset(resource, params, world, api_client, doctor_user):
    client = api_client(doctor_user)
    params = {
        k: v.format(patient=world.patient.pk, consult=world.consult.pk) for k, v in params.items()
    }
    r = _get(client, f"/fhir/R4/{resource}", **params)
    assert r.status_code == 200, r.content
    bundle = r.json()
    assert bundle["type"] == "searchset" and bundle["entry"], resource
    validate(bundle)
    for entry in bundle["entry"]:
        validate(entry["resource"])
        assert entry["resource"]["resourceType"] == resource
        read = _get(client, urlsplit(entry["fullUrl"]).path)
        assert read.status_code == 200, entry["fullUrl"]
        assert read.json() == entry["resource"]


def test_patient_identifiers_and_search_params(world, api_client, doctor_user):
    client = api_client(doctor_user)
    bundle = _get(
        client, "/fhir/R4/Patient", identifier="https://usc.edu.ph/id-number|2024-0001"
    ).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(world.patient.pk)]
    ident = bundle["entry"][0]["resource"]["identifier"][0]
    assert ident == {
        "use": "usual",
        "type": {"text": "Institutional ID number"},
        "system": "https://usc.edu.ph/id-number",
        "value": "2024-0001",
    }
    assert [
        e["resource"]["id"] for e in _get(client, "/fhir/R4/Patient", name="otto").json()["entry"]
    ] == [str(world.other.pk)]
    assert len(_get(client, "/fhir/R4/Patient", birthdate="2003-04-05").json()["entry"]) == 2
    assert _get(client, "/fhir/R4/Patient", birthdate="gt2003-04-05").json()["entry"] == []
    assert [
        e["resource"]["id"]
        for e in _get(client, "/fhir/R4/Patient", _id=str(world.other.pk)).json()["entry"]
    ] == [str(world.other.pk)]


def test_philhealth_pin_uses_the_ph_core_system_where_recorded(world):
    from patients.fhir import PHILHEALTH_ID_SYSTEM, patient_resource

    world.patient.philhealth_pin = "121234567891"
    resource = patient_resource(world.patient)
    validate(resource)
    assert {
        "use": "official",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "NH",
                    "display": "National Health Plan Identifier",
                }
            ],
            "text": "PhilHealth Identification Number (PIN)",
        },
        "system": PHILHEALTH_ID_SYSTEM,
        "value": "12-123456789-1",
    } in resource["identifier"]
    assert PHILHEALTH_ID_SYSTEM == "http://philhealth.gov.ph/fhir/Identifier/philhealth-id"
    world.patient.philhealth_pin = None
    assert len(patient_resource(world.patient)["identifier"]) == 1


def test_the_downloaded_record_carries_the_same_identifiers_as_the_api(world):
    from patients.exports.fhir import fhir_bundle
    from patients.fhir import PHILHEALTH_ID_SYSTEM, patient_resource

    world.patient.philhealth_pin = "121234567891"
    world.patient.save(update_fields=["philhealth_pin"])
    downloaded = fhir_bundle(world.patient)["entry"][0]["resource"]
    validate(downloaded)
    assert downloaded["identifier"] == patient_resource(world.patient)["identifier"]
    assert {"system": PHILHEALTH_ID_SYSTEM, "value": "12-123456789-1"}.items() <= next(
        i for i in downloaded["identifier"] if i["system"] == PHILHEALTH_ID_SYSTEM
    ).items()


def test_search_by_philhealth_pin(world, api_client, doctor_user):
    from patients.fhir import PHILHEALTH_ID_SYSTEM

    world.patient.philhealth_pin = "121234567891"
    world.patient.save(update_fields=["philhealth_pin"])
    client = api_client(doctor_user)

    def ids(value):
        r = _get(client, "/fhir/R4/Patient", identifier=value)
        assert r.status_code == 200, r.content
        validate(r.json())
        return [e["resource"]["id"] for e in r.json()["entry"]]

    me = [str(world.patient.pk)]
    assert ids(f"{PHILHEALTH_ID_SYSTEM}|12-123456789-1") == me
    assert ids(f"{PHILHEALTH_ID_SYSTEM}|121234567891") == me
    assert ids("12-123456789-1") == me  # no system: any identifier
    assert ids(f"{PHILHEALTH_ID_SYSTEM}|121234567890") == []
    assert ids(f"{PHILHEALTH_ID_SYSTEM}|not-a-pin") == []
    assert ids(f"{PHILHEALTH_ID_SYSTEM}|2024-0001") == []  # the other system's value
    assert ids("https://usc.edu.ph/id-number|121234567891") == []
    read = _get(client, f"/fhir/R4/Patient/{world.patient.pk}").json()
    validate(read)
    assert {"system": PHILHEALTH_ID_SYSTEM, "value": "12-123456789-1"}.items() <= next(
        i for i in read["identifier"] if i["system"] == PHILHEALTH_ID_SYSTEM
    ).items()


def test_paging_links_walk_every_patient_once(world, api_client, doctor_user):
    from tests.patients.factories import PatientFactory

    for i in range(5):
        PatientFactory(last_name=f"Page{i}")
    client = api_client(doctor_user)
    bundle = _get(client, "/fhir/R4/Patient", _count="3").json()
    seen = [e["resource"]["id"] for e in bundle["entry"]]
    while next_link := next(
        (link["url"] for link in bundle["link"] if link["relation"] == "next"), None
    ):
        bundle = _get(client, urlsplit(next_link).path + "?" + urlsplit(next_link).query).json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "url",
    [
        "/fhir/R4/Patient?gender=female",
        "/fhir/R4/Patient?_sort=name",
        "/fhir/R4/Patient?birthdate=sa2020",
        "/fhir/R4/Encounter?status=planned",
        "/fhir/R4/Patient?_count=0",
        "/fhir/R4/Slot",
    ],
)
def test_unsupported_parameters_are_a_400_operation_outcome(url, world, api_client, doctor_user):
    r = api_client(doctor_user).get(url, HTTP_ACCEPT=FHIR)
    assert r.status_code == 400
    outcome = r.json()
    validate(outcome)
    assert (
        outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"
    )


def test_patients_see_only_their_own_resources(world, api_client, patient_user):
    client = api_client(patient_user)
    ids = [e["resource"]["id"] for e in _get(client, "/fhir/R4/Patient").json()["entry"]]
    assert ids == [str(world.patient.pk)]
    assert _get(client, f"/fhir/R4/Patient/{world.other.pk}").status_code == 404
    assert _get(client, f"/fhir/R4/Encounter/enc-{world.other_visit.pk}").status_code == 404
    obs = _get(client, "/fhir/R4/Observation", patient=str(world.other.pk)).json()
    assert obs["entry"] == []
    r = _get(client, f"/fhir/R4/Patient/{world.other.pk}/$everything")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


def test_everything_returns_the_export_as_a_valid_bundle_and_is_audited(
    world, api_client, doctor_user
):
    client = api_client(doctor_user)
    r = _get(client, f"/fhir/R4/Patient/{world.patient.pk}/$everything")
    assert r.status_code == 200
    bundle = r.json()
    validate(bundle)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "MedicationRequest",
        "AllergyIntolerance",
        "Immunization",
    } <= kinds
    for entry in bundle["entry"]:
        validate(entry["resource"])
    assert AuditEvent.objects.filter(
        action="export", patient_id=world.patient.pk, actor=doctor_user
    ).exists()


def test_reads_and_searches_are_audited(world, api_client, doctor_user):
    client = api_client(doctor_user)
    before = AuditEvent.objects.filter(action="read", patient_id=world.patient.pk).count()
    _get(client, f"/fhir/R4/Patient/{world.patient.pk}")
    _get(client, "/fhir/R4/Observation", patient=str(world.patient.pk))
    assert (
        AuditEvent.objects.filter(action="read", patient_id=world.patient.pk).count() == before + 2
    )


def test_no_token_is_401_operation_outcome(world, api_client):
    r = api_client().get(f"/fhir/R4/Patient/{world.patient.pk}", HTTP_ACCEPT=FHIR)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"


def test_patient_search_reads_only_what_the_resource_shows(
    world, api_client, doctor_user, django_assert_max_num_queries
):
    """A Patient search loads only the columns ``patient_resource`` reads: every entry is
    the resource of the whole record (every field it shows filled in), and no row is
    read again for a column left out."""
    from patients.fhir import patient_resource
    from patients.models import Patient
    from tests.patients.factories import PatientFactory

    for i in range(4):
        PatientFactory(
            last_name="Dimaculangan",
            first_name=f"Ana {i}",
            middle_name="Reyes" if i % 2 else "",
            philhealth_pin=f"12123456789{i}" if i % 2 else None,
            phone="0917 000 0000" if i != 1 else "",
            address="Talamban, Cebu" if i != 2 else "",
            emergency_contact_name="Ben" if i != 3 else "",
            emergency_contact_relation="Father" if i == 0 else "",
            emergency_contact_phone="0918" if i < 2 else "",
        )
    client = api_client(doctor_user)
    _get(client, "/fhir/R4/Patient", name="dimacul")  # warm the token and caches
    with django_assert_max_num_queries(3):
        bundle = _get(client, "/fhir/R4/Patient", name="dimacul", _count="3").json()
    entries = [e["resource"] for e in bundle["entry"]]
    assert len(entries) == 3
    following = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    bundle = _get(client, urlsplit(following).path + "?" + urlsplit(following).query).json()
    entries += [e["resource"] for e in bundle["entry"]]
    expected = Patient.objects.filter(last_name="Dimaculangan").order_by("pk")
    assert entries == [patient_resource(p) for p in expected]
    for entry in entries:
        validate(entry)
