"""Invoice, official receipt, statement and claim-summary PDFs on the clinic letterhead
(reportlab; the letterhead, styles and table helper are the records export's)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

from django.conf import settings
from django.utils import timezone

from billing.models import Claim, Invoice, InvoiceStatus, Payment
from billing.money import amount_in_words
from billing.selectors import Statement, claim_rows, invoice_lines
from uscpis.pdf import document as _doc
from uscpis.pdf import esc as _esc
from uscpis.pdf import letterhead as _letterhead
from uscpis.pdf import styles as _styles
from uscpis.pdf import table as _table


def _peso(value) -> str:
    # The base PDF fonts have no peso sign.
    return f"PHP {Decimal(value or 0):,.2f}"


def _build(title: str, story_fn) -> bytes:
    # heavy optional dependency: loaded only when this runs
    from reportlab.platypus import Paragraph

    buffer = BytesIO()
    doc = _doc(buffer, title)
    styles = _styles()
    story = [Paragraph(_esc(title), styles["title"])]
    story_fn(story, styles, Paragraph)
    doc.build(story, onFirstPage=_letterhead, onLaterPages=_letterhead)
    return buffer.getvalue()


def _seller_block(styles, Paragraph):
    """The seller's name and TIN: required on every invoice and official receipt."""
    tin = settings.CLINIC_TIN.strip() or "not configured"
    return Paragraph(f"{_esc(settings.CLINIC_NAME)} · <b>TIN:</b> {_esc(tin)}", styles["body"])


def _patient_block(patient, styles, Paragraph):
    return Paragraph(
        f"<b>Bill to:</b> {_esc(patient.full_name)} · ID {_esc(patient.id_number)}"
        + (f" · {_esc(patient.address)}" if patient.address else ""),
        styles["body"],
    )


def invoice_pdf(invoice: Invoice) -> bytes:
    lines = invoice_lines(invoice)

    def story(s, styles, Paragraph):
        # heavy optional dependency: loaded only when this runs
        from reportlab.platypus import Spacer

        status = (
            "VOID — " + _esc(invoice.void_reason) if invoice.status == InvoiceStatus.VOID else ""
        )
        s.append(_seller_block(styles, Paragraph))
        s.append(
            Paragraph(
                f"<b>Invoice no.</b> {_esc(invoice.number or 'DRAFT')} · <b>Date</b> "
                f"{timezone.localdate(invoice.issued_at or invoice.created_at):%d %b %Y} · "
                f"<b>Service date</b> {invoice.visit_day:%d %b %Y} {status}",
                styles["body"],
            )
        )
        s.append(_patient_block(invoice.patient, styles, Paragraph))
        if invoice.statutory_discount:
            s.append(
                Paragraph(
                    f"<b>{_esc(invoice.get_statutory_discount_display())}</b> · ID no. "
                    f"{_esc(invoice.statutory_id_number)} (20 % discount, VAT-exempt)",
                    styles["body"],
                )
            )
        if invoice.coverage_id:
            cov = invoice.coverage
            s.append(
                Paragraph(
                    f"<b>Payer:</b> {_esc(cov.payer.name)} · member {_esc(cov.member_id)}"
                    + (f" · LOA {_esc(cov.loa_number)}" if cov.loa_number else ""),
                    styles["body"],
                )
            )
        s.append(Spacer(1, 8))
        rows = [["Description", "Qty", "Unit price", "Amount", "Discount", "Payer", "Patient"]]
        for x in lines:
            rows.append(
                [
                    Paragraph(_esc(x.description), styles["small"]),
                    f"{x.quantity.normalize():f}",
                    _peso(x.unit_price),
                    _peso(x.gross),
                    _peso(x.discount + x.vat_exemption),
                    _peso(x.payer_share),
                    _peso(x.patient_share),
                ]
            )
        rows.append(
            [
                "Total",
                "",
                "",
                _peso(invoice.gross_total),
                _peso(invoice.discount_total),
                _peso(invoice.payer_total),
                _peso(invoice.patient_total),
            ]
        )
        s.append(_table(rows, widths=[170, 30, 60, 60, 55, 55, 60]))
        s.append(Spacer(1, 8))
        s.append(
            Paragraph(
                f"VAT included: {_peso(invoice.vat_total)} · Paid: {_peso(invoice.amount_paid)} · "
                f"Credits: {_peso(invoice.credited)} · <b>Balance due: {_peso(invoice.balance)}</b>",
                styles["body"],
            )
        )
        s.append(
            Paragraph(
                f"{_esc(settings.CLINIC_NAME)} · This invoice is the principal sales "
                "document (RA 11976, RR 7-2024).",
                styles["small"],
            )
        )

    return _build(f"Invoice {invoice.number or 'draft'}", story)


def receipt_pdf(payment: Payment) -> bytes:
    allocations = list(payment.allocations.select_related("invoice"))

    def story(s, styles, Paragraph):
        s.append(_seller_block(styles, Paragraph))
        s.append(
            Paragraph(
                f"<b>Official receipt no.</b> {_esc(payment.receipt_number)} · "
                f"{timezone.localtime(payment.received_at):%d %b %Y, %I:%M %p}",
                styles["body"],
            )
        )
        s.append(
            Paragraph(
                f"<b>Received from:</b> {_esc(payment.patient.full_name)} · ID "
                f"{_esc(payment.patient.id_number)}",
                styles["body"],
            )
        )
        s.append(
            Paragraph(
                f"<b>Amount:</b> {_peso(payment.amount)} by {_esc(payment.get_method_display())}"
                + (f" (ref. {_esc(payment.reference)})" if payment.reference else ""),
                styles["body"],
            )
        )
        s.append(
            Paragraph(f"<b>The sum of:</b> {_esc(amount_in_words(payment.amount))}", styles["body"])
        )
        rows = [["Applied to invoice", "Amount"]]
        rows += [[a.invoice.number, _peso(a.amount)] for a in allocations]
        if payment.unallocated:
            rows.append(["Kept as credit", _peso(payment.unallocated)])
        if payment.refunded:
            rows.append(["Refunded", _peso(payment.refunded)])
        s.append(_table(rows, widths=[300, 120]))
        s.append(
            Paragraph(
                f"Received by {_esc(payment.received_by.full_name)}. Supplementary "
                "acknowledgement of payment; the invoice is the principal document.",
                styles["small"],
            )
        )

    return _build(f"Official receipt {payment.receipt_number}", story)


def statement_pdf(st: Statement) -> bytes:
    def story(s, styles, Paragraph):
        s.append(_patient_block(st.patient, styles, Paragraph))
        s.append(
            Paragraph(f"Period {st.date_from:%d %b %Y} – {st.date_to:%d %b %Y}", styles["body"])
        )
        rows = [
            ["Date", "Document", "Description", "Amount"],
            [st.date_from.strftime("%d %b %Y"), "", "Opening balance", _peso(st.opening)],
        ]
        for day, doc, text, amount in st.entries:
            rows.append(
                [
                    day.strftime("%d %b %Y"),
                    doc,
                    Paragraph(_esc(text), styles["small"]),
                    _peso(amount),
                ]
            )
        rows.append([st.date_to.strftime("%d %b %Y"), "", "Closing balance", _peso(st.closing)])
        s.append(_table(rows, widths=[65, 95, 230, 90]))
        if st.credit:
            s.append(Paragraph(f"Credit on account: {_peso(st.credit)}", styles["body"]))

    return _build("Statement of account", story)


def claims_summary_pdf(
    claims: list[Claim], *, payer_name: str, date_from: date, date_to: date
) -> bytes:
    """PhilHealth-style summary: member PIN, patient, dates, ICD-10 codes, services, amounts."""

    def story(s, styles, Paragraph):
        s.append(
            Paragraph(
                f"<b>Payer:</b> {_esc(payer_name)} · {date_from:%d %b %Y} – "
                f"{date_to:%d %b %Y} · {len(claims)} claims",
                styles["body"],
            )
        )
        rows = [["Claim", "Member PIN", "Patient", "Service date", "ICD-10", "Services", "Amount"]]
        total = Decimal("0")
        for r in claim_rows(claims):
            rows.append(
                [
                    r["claim"],
                    r["member_id"],
                    Paragraph(_esc(r["patient"]), styles["small"]),
                    r["service_date"],
                    r["icd10"],
                    Paragraph(_esc(r["services"]), styles["small"]),
                    _peso(r["amount"]),
                ]
            )
            total += r["amount"]
        rows.append(["Total", "", "", "", "", "", _peso(total)])
        s.append(_table(rows, widths=[70, 70, 85, 55, 50, 110, 60]))

    return _build("Claim summary", story)
