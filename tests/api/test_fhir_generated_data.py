"""Every resource the FHIR interface emits validates with fhir.resources R4B, over generated
data: the demo data set (seed_demo: patients, visits with vitals, diagnoses and
prescriptions, allergies, immunizations, appointments, schedules) paged through in full,
$everything for every patient, and Patient resources from Hypothesis-generated demographics."""

from __future__ import annotations

import io
from datetime import date
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from appointments.models import AppointmentType
from patients.fhir import patient_resource
from patients.models import Patient
from tests.api.fhir_validation import validate

SEARCHES = [
    "Patient",
    "Practitioner",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "Immunization",
    "Appointment",
    "Schedule",
]


@pytest.mark.django_db
@pytest.mark.slow
def test_every_resource_from_the_demo_data_validates(api_client):
    call_command("seed_demo", stdout=io.StringIO())
    client = api_client(User.objects.get(email="doctor@usc.edu.ph"))
    counts = {}
    for resource in SEARCHES:
        url = f"/fhir/R4/{resource}?_count=100"
        seen = 0
        while url:
            r = client.get(url, HTTP_ACCEPT="application/fhir+json")
            assert r.status_code == 200, (url, r.content[:300])
            bundle = r.json()
            validate(bundle)
            for entry in bundle["entry"]:
                validate(entry["resource"])
                seen += 1
            nxt = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            url = f"{urlsplit(nxt).path}?{urlsplit(nxt).query}" if nxt else None
        counts[resource] = seen
    assert all(counts.values()), counts
    for t in AppointmentType.objects.filter(is_active=True):
        bundle = client.get(
            f"/fhir/R4/Slot?service-type={t.pk}", HTTP_ACCEPT="application/fhir+json"
        ).json()
        validate(bundle)
        for entry in bundle["entry"]:
            validate(entry["resource"])
    for pk in Patient.objects.values_list("pk", flat=True):
        r = client.get(f"/fhir/R4/Patient/{pk}/$everything", HTTP_ACCEPT="application/fhir+json")
        assert r.status_code == 200
        validate(r.json())


names = (
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first=names,
    last=names,
    middle=st.one_of(st.just(""), names),
    sex=st.sampled_from(["F", "M", "X"]),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1)),
    phone=st.one_of(st.just(""), st.from_regex(r"\+?[0-9 ()-]{5,20}", fullmatch=True)),
    email=st.one_of(st.just(""), st.emails()),
    address=st.one_of(st.just(""), names),
    contact=st.one_of(st.just(""), names),
    pin=st.one_of(st.just(""), st.from_regex(r"\d{2}-\d{9}-\d", fullmatch=True)),
)
def test_generated_patients_validate(
    first, last, middle, sex, birth, phone, email, address, contact, pin
):
    patient = Patient(
        pk=7,
        id_number="2026-0001",
        first_name=first,
        last_name=last,
        middle_name=middle,
        sex=sex,
        birth_date=birth,
        phone=phone,
        email=email,
        address=address,
        emergency_contact_name=contact,
        emergency_contact_phone=phone,
        emergency_contact_relation="Mother" if contact else "",
    )
    patient.philhealth_pin = pin
    resource = patient_resource(patient)
    validate(resource)
    assert resource["identifier"][0]["value"] == "2026-0001"
