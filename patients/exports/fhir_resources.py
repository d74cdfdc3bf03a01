"""FHIR R4 resources for one patient's record, each built by one function from plain values
(``*_fhir``), so the FHIR API's reads and searches (which pass a model row's attributes) and
the whole-record export (``patients.exports.fhir``) serve identical resources; plus the
Patient's identifiers (institutional ID, PH Core PhilHealth PIN) and contact fields."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from django.utils import timezone

from patients.exports.record import _fmt_dt
from patients.models import (
    AllergySeverity,
    Diagnosis,
    Patient,
    Prescription,
    Route,
    Visit,
    VisitAddendum,
    VisitKind,
    VitalSigns,
    format_philhealth_pin,
)

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
                **_vital_sign_head(pk, suffix, pid, enc_id, effective),
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
                **_vital_sign_head(pk, "bp", pid, enc_id, effective),
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


def _vital_sign_head(pk, suffix: str, pid: str, enc_id, effective) -> dict:
    """What every vital-sign Observation of one measurement shares."""
    return {
        "resourceType": "Observation",
        "id": f"obs-{pk}-{suffix}",
        "status": "final",
        "category": _vital_signs_category(),
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "effectiveDateTime": effective,
    }


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
