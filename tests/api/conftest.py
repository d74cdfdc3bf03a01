"""API fixtures: a small clinic (providers, a type, two patients with records, stock) and
``api_client(user, scope=...)``: a client carrying a real personal API token."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.roles import Role
from patients.models import Icd10Code, Prescription
from patients.services import records as record_services
from patients.services import visits as visit_services
from tests.appointments.conftest import local
from tests.appointments.factories import AppointmentFactory, AppointmentTypeFactory, ProviderFactory
from tests.inventory.factories import ItemFactory, LocationFactory, receive
from tests.patients.factories import AllergyFactory, CertificateFactory, PatientFactory


@pytest.fixture(autouse=True)
def _generous_limits(settings):
    """Throttling has its own test; elsewhere the shared cache's counters must not get in
    the way of many requests from one test IP."""
    settings.API_RATE_USER = "100000/min"
    settings.API_RATE_ANON = "100000/min"
    cache.delete_pattern("*api-throttle*") if hasattr(cache, "delete_pattern") else cache.clear()


@pytest.fixture
def api_client(db):
    def make(user=None, scope: str = "read_write") -> APIClient:
        client = APIClient()
        if user is not None:
            _, secret = account_services.api_token_create(actor=user, name="test", scope=scope)
            client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
            client.token_secret = secret
        return client

    return make


@pytest.fixture
def world(
    db, doctor_user, dentist_user, nurse_user, patient_user, other_patient_user, billing_user
):
    """Two patients with portal accounts and records (a signed visit with vitals, a
    diagnosis and a prescription; an allergy; an immunization), a doctor and a dentist
    working every day, a consultation type, an appointment each, and a stocked item."""
    doctor = ProviderFactory(user=doctor_user, room="Room 101")
    dentist = ProviderFactory(user=dentist_user, room="Dental 2")
    consult = AppointmentTypeFactory(
        name="Consultation", slug="consultation", duration_minutes=30, buffer_minutes=0
    )
    patient = PatientFactory(
        user=patient_user, first_name="Pat", last_name="Student", id_number="2024-0001"
    )
    other = PatientFactory(
        user=other_patient_user, first_name="Otto", last_name="Other", id_number="2024-0002"
    )
    Icd10Code.objects.get_or_create(
        code="J06.9",
        defaults={"title": "Acute upper respiratory infection, unspecified", "is_leaf": True},
    )
    visits = {}
    for p in (patient, other):
        AllergyFactory(patient=p)
        record_services.immunization_add(
            actor=doctor_user,
            patient=p,
            vaccine="Influenza",
            dose_number=1,
            given_on=timezone.localdate() - timedelta(days=30),
        )
        visit = visit_services.visit_start(actor=doctor_user, patient=p, kind="medical")
        visit_services.visit_update_notes(
            actor=doctor_user,
            visit=visit,
            data={"chief_complaint": "Cough and fever", "assessment": "URTI"},
        )
        visit_services.vitals_record(
            actor=doctor_user,
            visit=visit,
            values={
                "temperature_c": Decimal("37.8"),
                "systolic": 120,
                "diastolic": 80,
                "pulse": 88,
                "weight_kg": Decimal("60.0"),
                "height_cm": Decimal("165.0"),
            },
        )
        visit_services.diagnosis_add(actor=doctor_user, visit=visit, code="J06.9", is_primary=True)
        Prescription.objects.create(
            visit=visit,
            drug_name="Paracetamol",
            dose="500 mg",
            frequency="every 6 hours",
            duration="3 days",
            quantity=12,
        )
        visit_services.visit_sign(actor=doctor_user, visit=visit)
        visits[p.pk] = visit
        CertificateFactory(patient=p, requested_by=doctor_user, verification_code=f"VC{p.pk:08d}")
    tomorrow = timezone.localdate() + timedelta(days=1)
    appt = AppointmentFactory(
        patient=patient, provider=doctor, appointment_type=consult, start=local(tomorrow, "09:00")
    )
    other_appt = AppointmentFactory(
        patient=other, provider=doctor, appointment_type=consult, start=local(tomorrow, "10:00")
    )
    location = LocationFactory(code="pharmacy", name="Pharmacy")
    item = ItemFactory(default_location=location)
    receive(item, quantity=100, location=location)
    invoice, other_invoice, claim = _billing(patient, other, billing_user)
    return SimpleNamespace(
        invoice=invoice,
        other_invoice=other_invoice,
        claim=claim,
        doctor=doctor,
        dentist=dentist,
        consult=consult,
        patient=patient,
        other=other,
        visit=visits[patient.pk],
        other_visit=visits[other.pk],
        appointment=appt,
        other_appointment=other_appt,
        item=item,
        location=location,
        day=tomorrow,
        at=lambda hhmm, day=tomorrow: local(day, hhmm),
    )


ROLES = list(Role)


def _billing(patient, other, billing_user):
    """An issued invoice each, an open cashier day, an HMO claim for the other patient."""
    from billing.catalogue import catalogue_ensure
    from billing.services import claims, payments
    from tests.billing.conftest import hmo_coverage, issued_invoice

    catalogue_ensure()
    payments.cashier_day_open(actor=billing_user, opening_float=Decimal("500"))
    invoice = issued_invoice(patient, billing_user, "LAB-CBC")
    hmo_coverage(other, percent="80")
    other_invoice = issued_invoice(other, billing_user, "LAB-CBC")
    claim = claims.claim_create(actor=billing_user, invoice=other_invoice)
    return invoice, other_invoice, claim
