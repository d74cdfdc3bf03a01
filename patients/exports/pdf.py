"""The record and medical certificate as PDF, on the clinic letterhead."""

from __future__ import annotations

import io

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from patients.exports.record import _addendum_heading, _fmt_dt, _vitals_text, record_data
from patients.models import (
    CertificateStatus,
    MedicalCertificate,
    Patient,
)
from uscpis import pdf


def record_pdf(patient: Patient) -> bytes:
    data = record_data(patient)
    st = pdf.styles()
    buffer = io.BytesIO()
    doc = pdf.document(buffer, f"Patient record — {patient.full_name}")
    p = patient
    story = [
        Paragraph(f"Patient record: {pdf.esc(p.full_name)}", st["title"]),
        Paragraph(
            f"ID {pdf.esc(p.id_number)} · {pdf.esc(p.get_sex_display())} · born {p.birth_date:%-d %b %Y} (age {p.age})"
            f" · blood type {pdf.esc(p.blood_type or 'unknown')}",
            st["body"],
        ),
        Paragraph(f"{pdf.esc(p.email)} · {pdf.esc(p.phone)} · {pdf.esc(p.address)}", st["small"]),
        Paragraph("Allergies", st["h2"]),
    ]
    if data["allergies"]:
        story.append(
            pdf.table(
                [["Substance", "Reaction", "Severity"]]
                + [
                    [
                        Paragraph(pdf.esc(a.substance), st["body"]),
                        Paragraph(pdf.esc(a.reaction), st["body"]),
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
                f"{pdf.esc(h.get_category_display())}: {pdf.esc(h.description)} {h.year or ''}",
                st["body"],
            )
        )
    if not data["history"]:
        story.append(Paragraph("None recorded.", st["body"]))
    story.append(Paragraph("Current medications", st["h2"]))
    for m in data["medications"]:
        story.append(Paragraph(pdf.esc(str(m)), st["body"]))
    if not data["medications"]:
        story.append(Paragraph("None recorded.", st["body"]))
    story.append(Paragraph("Immunizations", st["h2"]))
    if data["immunizations"]:
        story.append(
            pdf.table(
                [["Vaccine", "Dose", "Date", "Lot"]]
                + [
                    [
                        Paragraph(pdf.esc(i.vaccine), st["body"]),
                        i.dose_number,
                        i.given_on.isoformat(),
                        # Plain table cells are drawn as they are; only Paragraphs parse
                        # markup (and so need escaping).
                        Paragraph(pdf.esc(i.lot_number), st["body"]),
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
                f"<b>{_fmt_dt(v.started_at)} · {pdf.esc(v.get_kind_display())}</b> · {pdf.esc(v.provider.full_name)}",
                st["body"],
            )
        )
        if v.chief_complaint:
            story.append(Paragraph(f"Chief complaint: {pdf.esc(v.chief_complaint)}", st["body"]))
        for vs in v.vitals.all():
            story.append(Paragraph(f"Vitals: {pdf.esc(_vitals_text(vs))}", st["body"]))
        for d in v.diagnoses.all():
            story.append(
                Paragraph(
                    f"Diagnosis: {pdf.esc(d.icd10.code)} {pdf.esc(d.icd10.title)}", st["body"]
                )
            )
        if v.assessment:
            story.append(Paragraph(f"Assessment: {pdf.esc(v.assessment)}", st["body"]))
        if v.plan:
            story.append(Paragraph(f"Plan: {pdf.esc(v.plan)}", st["body"]))
        for rx in v.prescriptions.all():
            story.append(
                Paragraph(
                    f"Rx: {pdf.esc(rx.drug_name)} {pdf.esc(rx.dose)} {pdf.esc(rx.get_route_display())} {pdf.esc(rx.frequency)}"
                    f" {pdf.esc(rx.duration)} (#{rx.quantity})",
                    st["body"],
                )
            )
        for ad in v.addenda.all():
            story.append(
                Paragraph(
                    f"<b>{pdf.esc(_addendum_heading(ad))}:</b> {pdf.esc_lines(ad.text)}", st["body"]
                )
            )
        story.append(Spacer(1, 6))
    if not data["visits"]:
        story.append(Paragraph("No signed visits.", st["body"]))
    doc.build(story, onFirstPage=pdf.letterhead, onLaterPages=pdf.letterhead)
    return buffer.getvalue()


def certificate_verify_url(cert: MedicalCertificate) -> str:
    return f"{settings.SITE_URL}{reverse('patients:verify_certificate', args=[cert.verification_code])}"


def certificate_pdf(cert: MedicalCertificate) -> bytes:
    """The approved certificate on letterhead, with its verification code and a QR code
    pointing at the public verification page."""
    if cert.status != CertificateStatus.APPROVED:
        raise ValueError("Only approved certificates are printed.")
    st = pdf.styles()
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
    doc = pdf.document(buffer, f"Medical certificate {cert.verification_code}")
    fit = "FIT" if cert.fitness == "fit" else "NOT FIT"
    issued = timezone.localtime(cert.decided_at).date()
    story = [
        Paragraph("MEDICAL CERTIFICATE", st["title"]),
        Paragraph(f"Date issued: {issued:%-d %B %Y}", st["body"]),
        Spacer(1, 8),
        Paragraph(
            f"This is to certify that <b>{pdf.esc(p.full_name)}</b> (ID {pdf.esc(p.id_number)}), "
            f"{p.age_on(issued)} years old, {pdf.esc(p.get_sex_display().lower())}, was examined at the university health "
            f"services and is found <b>{fit}</b> for: {pdf.esc(cert.purpose)}.",
            st["body"],
        ),
        Spacer(1, 6),
    ]
    if cert.findings:
        story.append(Paragraph(f"Findings: {pdf.esc(cert.findings)}", st["body"]))
    if cert.fitness_reason:
        story.append(Paragraph(f"Reason: {pdf.esc(cert.fitness_reason)}", st["body"]))
    if cert.recommendations:
        story.append(Paragraph(f"Recommendations: {pdf.esc(cert.recommendations)}", st["body"]))
    story += [
        Paragraph(
            f"Valid from {cert.valid_from:%-d %B %Y} to {cert.valid_until:%-d %B %Y}.", st["body"]
        ),
        Spacer(1, 24),
        Paragraph(
            f"<b>{pdf.esc(cert.decided_by.full_name)}, MD</b><br/>Attending physician", st["body"]
        ),
        Spacer(1, 18),
        Qr(),
        Paragraph(f"Verification code: <b>{pdf.esc(cert.verification_code)}</b>", st["body"]),
        Paragraph(f"Verify at {pdf.esc(url)}", st["small"]),
    ]
    doc.build(story, onFirstPage=pdf.letterhead, onLaterPages=pdf.letterhead)
    return buffer.getvalue()
