"""The record as a FHIR R4 Bundle (Patient, Encounter, Condition, Observation,
MedicationRequest, AllergyIntolerance, ...).

Each resource is built by one function from plain values (``*_fhir``), so the same code
serves the FHIR API's reads and searches (which pass a model row's attributes) and the
whole-record export (``record_resources``: one ``values_list`` query per resource type,
no model instances: a patient with 700 visits is about 8,000 rows, and instantiating them
was most of the time ``$everything`` took).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone

from patients.exports.fhir_resources import (
    VITAL_FIELDS,
    _full_name,
    _iso,
    _iso_in_current_zone,
    addendum_fhir,
    allergy_fhir,
    condition_fhir,
    encounter_fhir,
    immunization_fhir,
    medication_request_fhir,
    medication_statement_fhir,
    patient_contact_fields,
    patient_identifiers,
    vitals_fhir,
)
from patients.models import (
    Allergy,
    Diagnosis,
    Immunization,
    Medication,
    Patient,
    Prescription,
    Visit,
    VisitAddendum,
    VisitStatus,
    VitalSigns,
)
from patients.selectors import allergy_severity_rank
from uscpis.dblookups import any_of

# --- The whole record ---------------------------------------------------------------------


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while tens of thousands of small dicts are built
    (none of them in a cycle): otherwise each few hundred allocations start a collection
    that walks the growing heap, a quarter of the build time. Re-enabled (if it was on)
    even on error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def record_resources(
    patient: Patient, *, patient_resource: dict, practitioner_reference: bool
) -> list[dict]:
    """The record's resources, in the export's order: the Patient, active allergies (most
    severe first), active medications, immunizations, then each signed visit (newest
    first) followed by its Conditions, Observations, MedicationRequests and addenda.

    One ``values_list`` query per resource type, whatever the number of visits (8).
    """
    with _no_cyclic_gc():
        return _record_resources(patient, patient_resource, practitioner_reference)


def _record_resources(
    patient: Patient, patient_resource: dict, practitioner_reference: bool
) -> list[dict]:
    pk = patient.pk
    pid = f"Patient/{pk}"
    iso = _iso_in_current_zone()
    out: list[dict] = [patient_resource]
    for a_pk, substance, reaction, severity, noted_on in (
        Allergy.objects.filter(patient_id=pk, is_active=True)
        .order_by(allergy_severity_rank(), "substance")
        .values_list("pk", "substance", "reaction", "severity", "noted_on")
    ):
        out.append(
            allergy_fhir(
                a_pk,
                pk,
                substance=substance,
                reaction=reaction,
                severity=severity,
                is_active=True,
                noted_on=noted_on,
            )
        )
    for m_pk, name, dose, frequency in (
        Medication.objects.filter(patient_id=pk, is_active=True)
        .order_by("-is_active", "name")
        .values_list("pk", "name", "dose", "frequency")
    ):
        out.append(medication_statement_fhir(m_pk, pid, name=name, dose=dose, frequency=frequency))
    for i_pk, vaccine, given_on, dose_number, lot_number in (
        Immunization.objects.filter(patient_id=pk)
        .order_by("-given_on", "vaccine")
        .values_list("pk", "vaccine", "given_on", "dose_number", "lot_number")
    ):
        out.append(
            immunization_fhir(
                i_pk,
                pk,
                vaccine=vaccine,
                given_on=given_on,
                dose_number=dose_number,
                lot_number=lot_number,
            )
        )

    visits = list(
        Visit.objects.filter(patient_id=pk, status=VisitStatus.SIGNED)
        .order_by("-started_at", "-id")
        .values_list(
            "pk",
            "kind",
            "started_at",
            "signed_at",
            "provider_id",
            "provider__first_name",
            "provider__last_name",
            "chief_complaint",
        )
    )
    # The visits' rows by the list of visit ids (index scans on visit_id, as the prefetches
    # did; a join on the patient made PostgreSQL scan every diagnosis), sent as one array
    # parameter; each visit's rows in the order the visit shows them (the models' orderings).
    visit_ids = [v[0] for v in visits]
    conditions = (
        Diagnosis.objects.filter(any_of("visit_id", visit_ids))
        .order_by("visit_id", "-is_primary", "id")
        .values_list("pk", "visit_id", "icd10_id", "icd10__title")
    )
    vitals = (
        VitalSigns.objects.filter(any_of("visit_id", visit_ids))
        .order_by("visit_id", "-recorded_at", "id")
        .values_list("pk", "visit_id", "recorded_at", "systolic", "diastolic", *VITAL_FIELDS)
    )
    prescriptions = (
        Prescription.objects.filter(any_of("visit_id", visit_ids))
        .order_by("visit_id", "id")
        .values_list(
            "pk",
            "visit_id",
            "drug_name",
            "dose",
            "route",
            "frequency",
            "duration",
            "quantity",
            "created_at",
        )
    )
    addenda = (
        VisitAddendum.objects.filter(any_of("visit_id", visit_ids))
        .order_by("visit_id", "created_at", "id")
        .values_list(
            "pk", "visit_id", "text", "created_at", "author__first_name", "author__last_name"
        )
    )
    per_visit: dict[int, tuple[list, list, list, list]] = {}

    def rows_of(visit_id: int) -> tuple[list, list, list, list]:
        rows = per_visit.get(visit_id)
        if rows is None:
            rows = per_visit[visit_id] = ([], [], [], [])
        return rows

    for row in conditions:
        rows_of(row[1])[0].append(row)
    for row in vitals:
        rows_of(row[1])[1].append(row)
    for row in prescriptions:
        rows_of(row[1])[2].append(row)
    for row in addenda:
        rows_of(row[1])[3].append(row)
    empty: tuple[list, list, list, list] = ([], [], [], [])

    for v_pk, kind, started_at, signed_at, provider_id, first, last, complaint in visits:
        enc_id = f"enc-{v_pk}"
        provider = _full_name(first, last)
        started = iso(started_at)
        out.append(
            encounter_fhir(
                v_pk,
                pid,
                status="finished",
                kind=kind,
                start=started,
                end=iso(signed_at) if signed_at else None,
                provider_id=provider_id,
                provider_name=provider,
                chief_complaint=complaint,
                practitioner_reference=practitioner_reference,
            )
        )
        cond_rows, vital_rows, rx_rows, addendum_rows = per_visit.get(v_pk, empty)
        for d_pk, _v, code, title in cond_rows:
            out.append(condition_fhir(d_pk, pid, enc_id, code=code, title=title, recorded=started))
        for vs_pk, _v, recorded_at, systolic, diastolic, *values in vital_rows:
            out.extend(
                vitals_fhir(
                    vs_pk,
                    pid,
                    enc_id,
                    values=values,
                    systolic=systolic,
                    diastolic=diastolic,
                    effective=iso(recorded_at),
                )
            )
        for rx_pk, _v, drug, dose, route, frequency, duration, quantity, created in rx_rows:
            out.append(
                medication_request_fhir(
                    rx_pk,
                    pid,
                    enc_id,
                    drug_name=drug,
                    dose=dose,
                    route=route,
                    frequency=frequency,
                    duration=duration,
                    quantity=quantity,
                    authored=iso(created),
                    requester=provider,
                )
            )
        for ad_pk, _v, text, created, a_first, a_last in addendum_rows:
            out.append(
                addendum_fhir(
                    ad_pk,
                    pid,
                    enc_id,
                    text=text,
                    created_at=created,
                    author=_full_name(a_first, a_last),
                )
            )
    return out


def _export_patient(patient: Patient) -> dict:
    """The downloaded record's Patient (the FHIR API serves ``patients.fhir``'s, with the
    PH Core identifiers and the emergency contact)."""
    pat = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": patient_identifiers(patient),
        "name": [
            {
                "family": patient.last_name,
                "given": [n for n in [patient.first_name, patient.middle_name] if n],
            }
        ],
        "gender": {"F": "female", "M": "male", "X": "other"}[patient.sex],
        "birthDate": patient.birth_date.isoformat(),
        **patient_contact_fields(patient),
    }
    return pat


def fhir_bundle(patient: Patient) -> dict:
    """A FHIR R4 ``collection`` Bundle of the patient's record (plain JSON-ready dict)."""
    base = f"{settings.SITE_URL}/fhir"
    resources = record_resources(
        patient, patient_resource=_export_patient(patient), practitioner_reference=False
    )
    return {
        "resourceType": "Bundle",
        "id": f"patient-{patient.pk}-record",
        "type": "collection",
        "timestamp": _iso(timezone.now()),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }
