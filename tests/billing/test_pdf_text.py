"""Invoice and official-receipt PDFs: the clinic's TIN on both, the amount in words on the
receipt (read back from the PDF text)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.money import amount_in_words
from billing.pdf import invoice_pdf, receipt_pdf
from billing.services import payments
from tests.billing.conftest import issued_invoice

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages
    )


@pytest.mark.parametrize(
    "value,words",
    [
        ("1200.50", "One thousand two hundred pesos and 50/100"),
        ("1", "One peso and 00/100"),
        ("0.05", "Zero pesos and 05/100"),
        ("21", "Twenty-one pesos and 00/100"),
        ("101.10", "One hundred one pesos and 10/100"),
        (
            "1234567.89",
            "One million two hundred thirty-four thousand five hundred sixty-seven pesos "
            "and 89/100",
        ),
        ("2000000000", "Two billion pesos and 00/100"),
    ],
)
def test_amount_in_words(value, words):
    assert amount_in_words(Decimal(value)) == words


def test_invoice_and_receipt_carry_the_tin_and_the_receipt_the_amount_in_words(
    settings, student, billing_user, cashier_day
):
    settings.CLINIC_TIN = "000-123-456-00000"
    invoice = issued_invoice(student, billing_user)
    payment, _ = payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("1200.50"),
        method="cash",
        idempotency_key="pdf-1",
    )
    invoice_text = _text(invoice_pdf(invoice))
    assert "TIN: 000-123-456-00000" in invoice_text and invoice.number in invoice_text
    receipt_text = _text(receipt_pdf(payment))
    assert "TIN: 000-123-456-00000" in receipt_text
    assert "One thousand two hundred pesos and 50/100" in receipt_text


def test_a_missing_tin_is_visible_not_silently_left_out(settings, student, billing_user):
    settings.CLINIC_TIN = ""
    assert "TIN: not configured" in _text(invoice_pdf(issued_invoice(student, billing_user)))
