"""The record as a FHIR R4 Bundle (Patient, Encounter, Condition, Observation,
MedicationRequest, AllergyIntolerance, ...).

Each resource is built by one function from plain values (``*_fhir``), so the same code
serves the FHIR API's reads and searches (which pass a model row's attributes) and the
whole-record export (``record_resources``: one ``values_list`` query per resource type,
no model instances: a patient with 700 visits is about 8,000 rows, and instantiating them
was most of the time ``$everything`` took).
"""

from __future__ import annotations

import base64
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from html import escape

from django.conf import settings
from django.utils import timezone

from patients.exports.record import _fmt_dt
from patients.models import (
    Allergy,
    AllergySeverity,
    Diagnosis,
    Immunization,
    Medication,
    Patient,
    Prescription,
    Route,
    Visit,
    VisitAddendum,
    VisitKind,
    VisitStatus,
    VitalSigns,
    format_philhealth_pin,
)
from patients.selectors import allergy_severity_rank
from uscpis.dblookups import any_of

FHIR_SEVERITY = {
    AllergySeverity.MILD: "mild",
    AllergySeverity.MODERATE: "moderate",
    AllergySeverity.SEVERE: "severe",
    AllergySeverity.LIFE_THREATENING: "severe",
}


LOINC_VITALS = {
    "temperature_c": ("8310-5", "Body temperature", "Cel", "°C"),
    "pulse": ("8867-4", "Heart rate", "/min", "beats/minute"),
    "respiratory_rate": ("9279-1", "Respiratory rate", "/min", "breaths/minute"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%"),
    "height_cm": ("8302-2", "Body height", "cm", "cm"),
    "weight_kg": ("29463-7", "Body weight", "kg", "kg"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2"),
}
# (field, observation id suffix, code, display, UCUM code, unit), in LOINC_VITALS order.
_VITALS = [(field, field.replace("_", "-"), *spec) for field, spec in LOINC_VITALS.items()]
VITAL_FIELDS = tuple(LOINC_VITALS)
VISIT_KINDS = dict(VisitKind.choices)
ROUTES = dict(Route.choices)


def _iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def _iso_in_current_zone() -> Callable[[datetime], str]:
    """``_iso`` with the time zone looked up once (for thousands of values)."""
    tz = timezone.get_current_timezone()
    return lambda value: value.astimezone(tz).isoformat()


def _full_name(first: str, last: str) -> str:
    """``User.full_name`` from the two columns."""
    return f"{first} {last}".strip()


# --- One resource from plain values -------------------------------------------------------


def allergy_fhir(
    pk: int,
    patient_id: int,
    *,
    substance: str,
    reaction: str,
    severity: str,
    is_active: bool,
    noted_on,
) -> dict:
    res = {
        "resourceType": "AllergyIntolerance",
        "id": f"allergy-{pk}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active" if is_active else "inactive",
                }
            ]
        },
        "criticality": "high" if severity in ("severe", "life_threatening") else "low",
        "code": {"text": substance},
        "patient": {"reference": f"Patient/{patient_id}"},
        "recordedDate": noted_on.isoformat(),
    }
    if reaction:
        res["reaction"] = [
            {"manifestation": [{"text": reaction}], "severity": FHIR_SEVERITY[severity]}
        ]
    return res


def medication_statement_fhir(pk: int, pid: str, *, name: str, dose: str, frequency: str) -> dict:
    res = {
        "resourceType": "MedicationStatement",
        "id": f"med-{pk}",
        "status": "active",
        "medicationCodeableConcept": {"text": name},
        "subject": {"reference": pid},
    }
    if dose or frequency:
        res["dosage"] = [{"text": f"{dose} {frequency}".strip()}]
    return res


def immunization_fhir(
    pk: int, patient_id: int, *, vaccine: str, given_on, dose_number: int, lot_number: str
) -> dict:
    res = {
        "resourceType": "Immunization",
        "id": f"imm-{pk}",
        "status": "completed",
        "vaccineCode": {"text": vaccine},
        "patient": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": given_on.isoformat(),
        "protocolApplied": [{"doseNumberPositiveInt": dose_number}],
    }
    if lot_number:
        res["lotNumber"] = lot_number
    return res


def encounter_fhir(
    pk: int,
    pid: str,
    *,
    status: str,
    kind: str,
    start: str,
    end: str | None,
    provider_id: int | None,
    provider_name: str,
    chief_complaint: str,
    practitioner_reference: bool = True,
) -> dict:
    """An Encounter; ``start``/``end`` already ISO strings. The practitioner is named by
    reference (the FHIR API, where Practitioner is served) or by name only (the downloaded
    record, which stands alone)."""
    period = {"start": start}
    if end:
        period["end"] = end
    res = {
        "resourceType": "Encounter",
        "id": f"enc-{pk}",
        "status": status,
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [{"text": VISIT_KINDS.get(kind, kind)}],
        "subject": {"reference": pid},
        "period": period,
    }
    if practitioner_reference:
        if provider_id:
            res["participant"] = [
                {
                    "individual": {
                        "reference": f"Practitioner/{provider_id}",
                        "display": provider_name,
                    }
                }
            ]
    else:
        res["participant"] = [{"individual": {"display": provider_name}}]
    if chief_complaint:
        res["reasonCode"] = [{"text": chief_complaint}]
    return res


def condition_fhir(pk: int, pid: str, enc_id: str, *, code: str, title: str, recorded: str) -> dict:
    return {
        "resourceType": "Condition",
        "id": f"cond-{pk}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": code, "display": title}
            ],
            "text": title,
        },
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "recordedDate": recorded,
    }


def _bp_component(code: str, display: str, value) -> dict:
    return {
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "valueQuantity": {
            "value": value,
            "unit": "mmHg",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]",
        },
    }


def vitals_fhir(
    pk: int,
    pid: str,
    enc_id: str,
    *,
    values: Sequence,
    systolic,
    diastolic,
    effective: str,
) -> list[dict]:
    """The Observations of one set of vitals; ``values`` in ``VITAL_FIELDS`` order."""
    out = []
    for (_field, suffix, code, display, ucum, unit), value in zip(_VITALS, values, strict=True):
        if value is None:
            continue
        out.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{pk}-{suffix}",
                "status": "final",
                "category": _vital_signs_category(),
                "subject": {"reference": pid},
                "encounter": {"reference": f"Encounter/{enc_id}"},
                "effectiveDateTime": effective,
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": code, "display": display}],
                    "text": display,
                },
                "valueQuantity": {
                    "value": float(value),
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": ucum,
                },
            }
        )
    if systolic is not None and diastolic is not None:
        out.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{pk}-bp",
                "status": "final",
                "category": _vital_signs_category(),
                "subject": {"reference": pid},
                "encounter": {"reference": f"Encounter/{enc_id}"},
                "effectiveDateTime": effective,
                "code": {
                    "coding": [
                        {
                            "system": "http://loinc.org",
                            "code": "85354-9",
                            "display": "Blood pressure panel with all children optional",
                        }
                    ],
                    "text": "Blood pressure",
                },
                "component": [
                    _bp_component("8480-6", "Systolic blood pressure", systolic),
                    _bp_component("8462-4", "Diastolic blood pressure", diastolic),
                ],
            }
        )
    return out


def _vital_signs_category() -> list[dict]:
    return [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                    "display": "Vital Signs",
                }
            ]
        }
    ]


def medication_request_fhir(
    pk: int,
    pid: str,
    enc_id: str,
    *,
    drug_name: str,
    dose: str,
    route: str,
    frequency: str,
    duration: str,
    quantity: int,
    authored: str,
    requester: str,
) -> dict:
    route_display = ROUTES.get(route, route)
    return {
        "resourceType": "MedicationRequest",
        "id": f"rx-{pk}",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": drug_name},
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "authoredOn": authored,
        "requester": {"display": requester},
        "dosageInstruction": [
            {
                "text": f"{dose} {route_display} {frequency} {duration}".strip(),
                "route": {"text": route_display},
            }
        ],
        "dispenseRequest": {"quantity": {"value": quantity}},
    }


def addendum_fhir(
    pk: int, pid: str, enc_id: str, *, text: str, created_at: datetime, author: str
) -> dict:
    """A signed visit's addendum as a DocumentReference (LOINC 55107-7 "Addendum Document")
    in the visit's context: the text is the attachment, and also the readable narrative."""

    lines = "<br/>".join(escape(line, quote=False) for line in text.splitlines())
    created = _iso(created_at)
    return {
        "resourceType": "DocumentReference",
        "id": f"addendum-{pk}",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{lines}</p></div>',
        },
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "55107-7", "display": "Addendum Document"}
            ],
            "text": "Addendum",
        },
        "subject": {"reference": pid},
        "date": created,
        "author": [{"display": author}],
        # Worded as record._addendum_heading (the PDF and CSV exports) words it.
        "description": f"Addendum {_fmt_dt(created_at)} by {author}",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                    "title": "Addendum",
                    "creation": created,
                }
            }
        ],
        "context": {"encounter": [{"reference": f"Encounter/{enc_id}"}]},
    }


# --- One resource from a model row (the FHIR API's reads and searches) ----------------------


def _fhir_condition(d: Diagnosis, pid: str, enc_id: str, v: Visit) -> dict:
    return condition_fhir(
        d.pk, pid, enc_id, code=d.icd10.code, title=d.icd10.title, recorded=_iso(v.started_at)
    )


def _fhir_vitals(vs: VitalSigns, pid: str, enc_id: str) -> list[dict]:
    return vitals_fhir(
        vs.pk,
        pid,
        enc_id,
        values=[getattr(vs, f) for f in VITAL_FIELDS],
        systolic=vs.systolic,
        diastolic=vs.diastolic,
        effective=_iso(vs.recorded_at),
    )


def _fhir_medication_request(rx: Prescription, pid: str, enc_id: str, v: Visit) -> dict:
    return medication_request_fhir(
        rx.pk,
        pid,
        enc_id,
        drug_name=rx.drug_name,
        dose=rx.dose,
        route=rx.route,
        frequency=rx.frequency,
        duration=rx.duration,
        quantity=rx.quantity,
        authored=_iso(rx.created_at),
        requester=v.provider.full_name,
    )


def _fhir_addendum(ad: VisitAddendum, pid: str, enc_id: str) -> dict:
    return addendum_fhir(
        ad.pk, pid, enc_id, text=ad.text, created_at=ad.created_at, author=ad.author.full_name
    )


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


INSTITUTIONAL_ID_SYSTEM = "https://usc.edu.ph/id-number"
# PH Core (ph-core-philhealth-id): the PhilHealth Identification Number's system.
PHILHEALTH_ID_SYSTEM = "http://philhealth.gov.ph/fhir/Identifier/philhealth-id"


def patient_identifiers(patient: Patient) -> list[dict]:
    """The institutional ID number and, where recorded, the PhilHealth PIN (PH Core
    ``ph-core-philhealth-id``: its system, type v2-0203 NH, the value as ``nn-nnnnnnnnn-n``)."""
    ids = [
        {
            "use": "usual",
            "type": {"text": "Institutional ID number"},
            "system": INSTITUTIONAL_ID_SYSTEM,
            "value": patient.id_number,
        }
    ]
    if patient.philhealth_pin:
        ids.append(
            {
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
                "value": format_philhealth_pin(patient.philhealth_pin),
            }
        )
    return ids


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


def patient_contact_fields(patient: Patient) -> dict:
    """A Patient resource's ``telecom`` (phone, email) and ``address``, where recorded."""
    fields: dict = {}
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        fields["telecom"] = telecom
    if patient.address:
        fields["address"] = [{"text": patient.address}]
    return fields


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
