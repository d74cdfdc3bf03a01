"""The record as a FHIR R4 Bundle (Patient, Encounter, Condition, Observation,
MedicationRequest, AllergyIntolerance, ...)."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape

from django.conf import settings
from django.utils import timezone

from patients.exports.record import _addendum_heading, record_data
from patients.models import (
    AllergySeverity,
    Diagnosis,
    Patient,
    Prescription,
    Visit,
    VisitAddendum,
    VitalSigns,
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


def _iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def fhir_bundle(patient: Patient) -> dict:
    """A FHIR R4 ``collection`` Bundle of the patient's record (plain JSON-ready dict)."""
    data = record_data(patient)
    base = f"{settings.SITE_URL}/fhir"
    pid = f"Patient/{patient.pk}"
    entries: list[dict] = []

    def add(resource: dict) -> None:
        entries.append(
            {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource}
        )

    gender = {"F": "female", "M": "male", "X": "other"}[patient.sex]
    pat = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": [{"system": "https://usc.edu.ph/id-number", "value": patient.id_number}],
        "name": [
            {
                "family": patient.last_name,
                "given": [n for n in [patient.first_name, patient.middle_name] if n],
            }
        ],
        "gender": gender,
        "birthDate": patient.birth_date.isoformat(),
    }
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        pat["telecom"] = telecom
    if patient.address:
        pat["address"] = [{"text": patient.address}]
    add(pat)
    for a in data["allergies"]:
        add(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"allergy-{a.pk}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
                "criticality": "high" if a.severity in ("severe", "life_threatening") else "low",
                "code": {"text": a.substance},
                "patient": {"reference": pid},
                "recordedDate": a.noted_on.isoformat(),
                **(
                    {
                        "reaction": [
                            {
                                "manifestation": [{"text": a.reaction}],
                                "severity": FHIR_SEVERITY[a.severity],
                            }
                        ]
                    }
                    if a.reaction
                    else {}
                ),
            }
        )
    for m in data["medications"]:
        add(
            {
                "resourceType": "MedicationStatement",
                "id": f"med-{m.pk}",
                "status": "active",
                "medicationCodeableConcept": {"text": m.name},
                "subject": {"reference": pid},
                **(
                    {"dosage": [{"text": f"{m.dose} {m.frequency}".strip()}]}
                    if m.dose or m.frequency
                    else {}
                ),
            }
        )
    for i in data["immunizations"]:
        imm = {
            "resourceType": "Immunization",
            "id": f"imm-{i.pk}",
            "status": "completed",
            "vaccineCode": {"text": i.vaccine},
            "patient": {"reference": pid},
            "occurrenceDateTime": i.given_on.isoformat(),
            "protocolApplied": [{"doseNumberPositiveInt": i.dose_number}],
        }
        if i.lot_number:
            imm["lotNumber"] = i.lot_number
        add(imm)
    for v in data["visits"]:
        enc_id = f"enc-{v.pk}"
        add(
            {
                "resourceType": "Encounter",
                "id": enc_id,
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [{"text": v.get_kind_display()}],
                "subject": {"reference": pid},
                "period": {
                    "start": _iso(v.started_at),
                    **({"end": _iso(v.signed_at)} if v.signed_at else {}),
                },
                "participant": [{"individual": {"display": v.provider.full_name}}],
                **({"reasonCode": [{"text": v.chief_complaint}]} if v.chief_complaint else {}),
            }
        )
        for d in v.diagnoses.all():
            add(_fhir_condition(d, pid, enc_id, v))
        for vs in v.vitals.all():
            for obs in _fhir_vitals(vs, pid, enc_id):
                add(obs)
        for rx in v.prescriptions.all():
            add(_fhir_medication_request(rx, pid, enc_id, v))
        for ad in v.addenda.all():
            add(_fhir_addendum(ad, pid, enc_id))
    return {
        "resourceType": "Bundle",
        "id": f"patient-{patient.pk}-record",
        "type": "collection",
        "timestamp": _iso(timezone.now()),
        "entry": entries,
    }


def _fhir_condition(d: Diagnosis, pid: str, enc_id: str, v: Visit) -> dict:
    return {
        "resourceType": "Condition",
        "id": f"cond-{d.pk}",
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
                {
                    "system": "http://hl7.org/fhir/sid/icd-10",
                    "code": d.icd10.code,
                    "display": d.icd10.title,
                }
            ],
            "text": d.icd10.title,
        },
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "recordedDate": _iso(v.started_at),
    }


def _fhir_vitals(vs: VitalSigns, pid: str, enc_id: str) -> list[dict]:
    category = [
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
    common = {
        "status": "final",
        "category": category,
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "effectiveDateTime": _iso(vs.recorded_at),
    }
    out = []
    for field, (code, display, ucum, unit) in LOINC_VITALS.items():
        value = getattr(vs, field)
        if value is None:
            continue
        out.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{vs.pk}-{field.replace('_', '-')}",
                **common,
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
    if vs.systolic is not None and vs.diastolic is not None:

        def comp(code, display, value):
            return {
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": code, "display": display}]
                },
                "valueQuantity": {
                    "value": value,
                    "unit": "mmHg",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            }

        out.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{vs.pk}-bp",
                **common,
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
                    comp("8480-6", "Systolic blood pressure", vs.systolic),
                    comp("8462-4", "Diastolic blood pressure", vs.diastolic),
                ],
            }
        )
    return out


def _fhir_medication_request(rx: Prescription, pid: str, enc_id: str, v: Visit) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": f"rx-{rx.pk}",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": rx.drug_name},
        "subject": {"reference": pid},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "authoredOn": _iso(rx.created_at),
        "requester": {"display": v.provider.full_name},
        "dosageInstruction": [
            {
                "text": f"{rx.dose} {rx.get_route_display()} {rx.frequency} {rx.duration}".strip(),
                "route": {"text": rx.get_route_display()},
            }
        ],
        "dispenseRequest": {"quantity": {"value": rx.quantity}},
    }


def _fhir_addendum(ad: VisitAddendum, pid: str, enc_id: str) -> dict:
    """A signed visit's addendum as a DocumentReference (LOINC 55107-7 "Addendum Document")
    in the visit's context: the text is the attachment, and also the readable narrative."""

    lines = "<br/>".join(escape(line, quote=False) for line in ad.text.splitlines())
    return {
        "resourceType": "DocumentReference",
        "id": f"addendum-{ad.pk}",
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
        "date": _iso(ad.created_at),
        "author": [{"display": ad.author.full_name}],
        "description": _addendum_heading(ad),
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(ad.text.encode("utf-8")).decode("ascii"),
                    "title": "Addendum",
                    "creation": _iso(ad.created_at),
                }
            }
        ],
        "context": {"encounter": [{"reference": f"Encounter/{enc_id}"}]},
    }
