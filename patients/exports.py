"""Patient record exports (PDF, CSV, FHIR R4 Bundle) and the medical certificate PDF.

Pure functions of the records: views do the permission check and the audit event.
"""

from __future__ import annotations

import io
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone

from patients.models import (
    AllergySeverity,
    CertificateStatus,
    Diagnosis,
    MedicalCertificate,
    Patient,
    Prescription,
    Visit,
    VisitAddendum,
    VitalSigns,
)
from patients.selectors import active_allergies
from uscpis.csvexport import csv_text

# --- Shared data ---------------------------------------------------------------------------


def record_data(patient: Patient) -> dict:
    """Everything an export shows, read with a fixed number of queries."""
    visits = list(
        Visit.objects.filter(patient=patient, status="signed")
        .select_related("provider")
        .prefetch_related(
            "diagnoses__icd10",
            "vitals",
            "prescriptions",
            Prefetch("addenda", queryset=VisitAddendum.objects.select_related("author")),
        )
        .order_by("-started_at")
    )
    return {
        "patient": patient,
        "allergies": active_allergies(patient),  # most severe first
        "history": list(patient.history_entries.all()),
        "medications": list(patient.medications.filter(is_active=True)),
        "immunizations": list(patient.immunizations.all()),
        "visits": visits,
    }


def _fmt_dt(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %-d %b %Y, %-I:%M %p")


# --- CSV -------------------------------------------------------------------------------


def record_csv(patient: Patient) -> bytes:
    """One row per fact: section, date, item, details (formula-safe, see uscpis.csvexport)."""
    text = csv_text(["section", "date", "item", "details"], _record_rows(patient))
    # Excel opens UTF-8 CSV correctly with a byte-order mark.
    return ("\ufeff" + text).encode("utf-8")


def _record_rows(patient: Patient):
    data = record_data(patient)
    p = patient
    yield (
        [
            "patient",
            p.birth_date.isoformat(),
            p.full_name,
            f"ID {p.id_number}; sex {p.get_sex_display()}; blood type {p.blood_type or 'unknown'}",
        ]
    )
    for a in data["allergies"]:
        yield (
            [
                "allergy",
                a.noted_on.isoformat(),
                a.substance,
                f"{a.get_severity_display()}; {a.reaction}",
            ]
        )
    for h in data["history"]:
        yield (["history", h.year or "", h.description, h.get_category_display()])
    for m in data["medications"]:
        yield (
            [
                "medication",
                m.started_on.isoformat() if m.started_on else "",
                m.name,
                f"{m.dose} {m.frequency}".strip(),
            ]
        )
    for i in data["immunizations"]:
        yield (
            [
                "immunization",
                i.given_on.isoformat(),
                i.vaccine,
                f"dose {i.dose_number}; lot {i.lot_number}",
            ]
        )
    for v in data["visits"]:
        day = timezone.localtime(v.started_at).date().isoformat()
        yield (["visit", day, v.get_kind_display(), v.chief_complaint])
        for d in v.diagnoses.all():
            yield (["diagnosis", day, d.icd10.code, d.icd10.title])
        for rx in v.prescriptions.all():
            yield (
                [
                    "prescription",
                    day,
                    rx.drug_name,
                    f"{rx.dose} {rx.get_route_display()} {rx.frequency} {rx.duration} x{rx.quantity}",
                ]
            )
        for vs in v.vitals.all():
            yield (["vitals", day, "vital signs", _vitals_text(vs)])
        for ad in v.addenda.all():
            yield (["addendum", _local_day(ad.created_at), _addendum_heading(ad), ad.text])


def _local_day(value: datetime) -> str:
    return timezone.localtime(value).date().isoformat()


def _addendum_heading(ad: VisitAddendum) -> str:
    return f"Addendum {_fmt_dt(ad.created_at)} by {ad.author.full_name}"


def _vitals_text(vs: VitalSigns) -> str:
    parts = []
    if vs.temperature_c is not None:
        parts.append(f"T {vs.temperature_c} °C")
    if vs.blood_pressure:
        parts.append(f"BP {vs.blood_pressure}")
    if vs.pulse is not None:
        parts.append(f"HR {vs.pulse}")
    if vs.respiratory_rate is not None:
        parts.append(f"RR {vs.respiratory_rate}")
    if vs.spo2 is not None:
        parts.append(f"SpO2 {vs.spo2}%")
    if vs.height_cm is not None:
        parts.append(f"Ht {vs.height_cm} cm")
    if vs.weight_kg is not None:
        parts.append(f"Wt {vs.weight_kg} kg")
    if vs.bmi is not None:
        parts.append(f"BMI {vs.bmi}")
    return ", ".join(parts)


# --- PDF -------------------------------------------------------------------------------


def _styles():
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=16, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=12, spaceBefore=10, spaceAfter=4
        ),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=8, leading=10),
    }


def _esc(text) -> str:
    from xml.sax.saxutils import escape

    return escape(str(text or ""))


def _esc_lines(text) -> str:
    """Escaped for a Paragraph, keeping the writer's line breaks."""
    return "<br/>".join(_esc(line) for line in str(text or "").splitlines())


def _letterhead(canvas, doc):
    from reportlab.lib import colors
    from reportlab.lib.units import mm

    width, height = doc.pagesize
    canvas.saveState()
    canvas.setFillColor(colors.HexColor("#0b5d3b"))
    canvas.rect(0, height - 22 * mm, width, 22 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(15 * mm, height - 11 * mm, settings.CLINIC_NAME)
    canvas.setFont("Helvetica", 9)
    canvas.drawString(
        15 * mm, height - 17 * mm, "University of San Carlos · Cebu City, Philippines · USC-PIS"
    )
    canvas.setFillColor(colors.grey)
    canvas.setFont("Helvetica", 7.5)
    canvas.drawString(15 * mm, 10 * mm, f"Generated {_fmt_dt(timezone.now())} · page {doc.page}")
    canvas.restoreState()


def _doc(buffer, title: str):
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    return SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author=settings.CLINIC_NAME,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=30 * mm,
        bottomMargin=18 * mm,
    )


def _table(rows, widths=None):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    t = Table(rows, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f1ec")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c7bf")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t


def record_pdf(patient: Patient) -> bytes:
    from reportlab.platypus import Paragraph, Spacer

    data = record_data(patient)
    st = _styles()
    buffer = io.BytesIO()
    doc = _doc(buffer, f"Patient record — {patient.full_name}")
    p = patient
    story = [
        Paragraph(f"Patient record: {_esc(p.full_name)}", st["title"]),
        Paragraph(
            f"ID {_esc(p.id_number)} · {_esc(p.get_sex_display())} · born {p.birth_date:%-d %b %Y} (age {p.age})"
            f" · blood type {_esc(p.blood_type or 'unknown')}",
            st["body"],
        ),
        Paragraph(f"{_esc(p.email)} · {_esc(p.phone)} · {_esc(p.address)}", st["small"]),
        Paragraph("Allergies", st["h2"]),
    ]
    if data["allergies"]:
        story.append(
            _table(
                [["Substance", "Reaction", "Severity"]]
                + [
                    [
                        Paragraph(_esc(a.substance), st["body"]),
                        Paragraph(_esc(a.reaction), st["body"]),
                        a.get_severity_display(),
                    ]
                    for a in data["allergies"]
                ]
            )
        )
    else:
        story.append(Paragraph("No known allergies.", st["body"]))
    story.append(Paragraph("Medical history", st["h2"]))
    for h in data["history"] or []:
        story.append(
            Paragraph(
                f"{_esc(h.get_category_display())}: {_esc(h.description)} {h.year or ''}",
                st["body"],
            )
        )
    if not data["history"]:
        story.append(Paragraph("None recorded.", st["body"]))
    story.append(Paragraph("Current medications", st["h2"]))
    for m in data["medications"]:
        story.append(Paragraph(_esc(str(m)), st["body"]))
    if not data["medications"]:
        story.append(Paragraph("None recorded.", st["body"]))
    story.append(Paragraph("Immunizations", st["h2"]))
    if data["immunizations"]:
        story.append(
            _table(
                [["Vaccine", "Dose", "Date", "Lot"]]
                + [
                    [
                        Paragraph(_esc(i.vaccine), st["body"]),
                        i.dose_number,
                        i.given_on.isoformat(),
                        # Plain table cells are drawn as they are; only Paragraphs parse
                        # markup (and so need escaping).
                        Paragraph(_esc(i.lot_number), st["body"]),
                    ]
                    for i in data["immunizations"]
                ]
            )
        )
    else:
        story.append(Paragraph("None recorded.", st["body"]))
    story.append(Paragraph("Visits", st["h2"]))
    for v in data["visits"]:
        story.append(
            Paragraph(
                f"<b>{_fmt_dt(v.started_at)} · {_esc(v.get_kind_display())}</b> · {_esc(v.provider.full_name)}",
                st["body"],
            )
        )
        if v.chief_complaint:
            story.append(Paragraph(f"Chief complaint: {_esc(v.chief_complaint)}", st["body"]))
        for vs in v.vitals.all():
            story.append(Paragraph(f"Vitals: {_esc(_vitals_text(vs))}", st["body"]))
        for d in v.diagnoses.all():
            story.append(
                Paragraph(f"Diagnosis: {_esc(d.icd10.code)} {_esc(d.icd10.title)}", st["body"])
            )
        if v.assessment:
            story.append(Paragraph(f"Assessment: {_esc(v.assessment)}", st["body"]))
        if v.plan:
            story.append(Paragraph(f"Plan: {_esc(v.plan)}", st["body"]))
        for rx in v.prescriptions.all():
            story.append(
                Paragraph(
                    f"Rx: {_esc(rx.drug_name)} {_esc(rx.dose)} {_esc(rx.get_route_display())} {_esc(rx.frequency)}"
                    f" {_esc(rx.duration)} (#{rx.quantity})",
                    st["body"],
                )
            )
        for ad in v.addenda.all():
            story.append(
                Paragraph(
                    f"<b>{_esc(_addendum_heading(ad))}:</b> {_esc_lines(ad.text)}", st["body"]
                )
            )
        story.append(Spacer(1, 6))
    if not data["visits"]:
        story.append(Paragraph("No signed visits.", st["body"]))
    doc.build(story, onFirstPage=_letterhead, onLaterPages=_letterhead)
    return buffer.getvalue()


def certificate_verify_url(cert: MedicalCertificate) -> str:
    return f"{settings.SITE_URL}{reverse('patients:verify_certificate', args=[cert.verification_code])}"


def certificate_pdf(cert: MedicalCertificate) -> bytes:
    """The approved certificate on letterhead, with its verification code and a QR code
    pointing at the public verification page."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, Paragraph, Spacer

    if cert.status != CertificateStatus.APPROVED:
        raise ValueError("Only approved certificates are printed.")
    st = _styles()
    url = certificate_verify_url(cert)

    class Qr(Flowable):
        size = 32 * mm

        def wrap(self, *args):
            return self.size, self.size

        def draw(self):
            widget = QrCodeWidget(url)
            x1, y1, x2, y2 = widget.getBounds()
            drawing = Drawing(
                self.size,
                self.size,
                transform=[self.size / (x2 - x1), 0, 0, self.size / (y2 - y1), 0, 0],
            )
            drawing.add(widget)
            renderPDF.draw(drawing, self.canv, 0, 0)

    p = cert.patient
    buffer = io.BytesIO()
    doc = _doc(buffer, f"Medical certificate {cert.verification_code}")
    fit = "FIT" if cert.fitness == "fit" else "NOT FIT"
    issued = timezone.localtime(cert.decided_at).date()
    story = [
        Paragraph("MEDICAL CERTIFICATE", st["title"]),
        Paragraph(f"Date issued: {issued:%-d %B %Y}", st["body"]),
        Spacer(1, 8),
        Paragraph(
            f"This is to certify that <b>{_esc(p.full_name)}</b> (ID {_esc(p.id_number)}), "
            f"{p.age_on(issued)} years old, {_esc(p.get_sex_display().lower())}, was examined at the university health "
            f"services and is found <b>{fit}</b> for: {_esc(cert.purpose)}.",
            st["body"],
        ),
        Spacer(1, 6),
    ]
    if cert.findings:
        story.append(Paragraph(f"Findings: {_esc(cert.findings)}", st["body"]))
    if cert.fitness_reason:
        story.append(Paragraph(f"Reason: {_esc(cert.fitness_reason)}", st["body"]))
    if cert.recommendations:
        story.append(Paragraph(f"Recommendations: {_esc(cert.recommendations)}", st["body"]))
    story += [
        Paragraph(
            f"Valid from {cert.valid_from:%-d %B %Y} to {cert.valid_until:%-d %B %Y}.", st["body"]
        ),
        Spacer(1, 24),
        Paragraph(
            f"<b>{_esc(cert.decided_by.full_name)}, MD</b><br/>Attending physician", st["body"]
        ),
        Spacer(1, 18),
        Qr(),
        Paragraph(f"Verification code: <b>{_esc(cert.verification_code)}</b>", st["body"]),
        Paragraph(f"Verify at {_esc(url)}", st["small"]),
    ]
    doc.build(story, onFirstPage=_letterhead, onLaterPages=_letterhead)
    return buffer.getvalue()


# --- FHIR R4 ---------------------------------------------------------------------------

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
    import base64
    from html import escape

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
