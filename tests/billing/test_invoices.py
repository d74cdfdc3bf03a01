"""Drafts per patient per visit day, pricing per patient type, coverage split, issuing,
and the corrections an issued invoice allows."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import (
    Charge,
    ChargeStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Price,
    WriteOff,
)
from billing.services import charges, invoices
from tests.billing.conftest import charge, hmo_coverage, issued_invoice

pytestmark = pytest.mark.django_db


def test_charges_of_one_day_share_a_draft_and_another_day_gets_its_own(student):
    today = timezone.localdate()
    a = charge(student, "LAB-CBC", day=today)
    b = charge(student, "LAB-UA", day=today)
    c = charge(student, "LAB-UA", day=today - timedelta(days=1))
    inv_a, inv_b, inv_c = (x.invoice_lines.get().invoice for x in (a, b, c))
    assert inv_a == inv_b != inv_c
    assert inv_a.status == InvoiceStatus.DRAFT and inv_a.number is None
    assert inv_a.net_total == Decimal("350.00")  # 250 + 100, student prices
    assert Charge.objects.filter(status=ChargeStatus.BILLED).count() == 3


def test_employee_pays_half_and_students_first_three_consultations_per_term_are_covered(
    student, employee
):
    day = date(2026, 9, 1)
    for n in range(4):
        charge(student, "CONSULT", day=day + timedelta(days=n))
    lines = InvoiceLine.objects.filter(invoice__patient=student).order_by("invoice__visit_day")
    assert [x.unit_price for x in lines] == [Decimal("0.00")] * 3 + [Decimal("150.00")]
    assert [x.covered_by_fee for x in lines] == [True, True, True, False]
    emp = charge(employee, "CONSULT", day=day)
    assert emp.invoice_lines.get().unit_price == Decimal("75.00")


def test_a_reversed_consultation_gives_its_covered_place_back(student):
    day = date(2026, 9, 1)
    first = charge(student, "CONSULT", day=day)
    charges.charge_reverse(actor=None, charge=first, reason="Entered twice")
    later = [charge(student, "CONSULT", day=day + timedelta(days=n)) for n in range(1, 4)]
    assert all(c.invoice_lines.get().covered_by_fee for c in later)


def test_issue_assigns_sequential_numbers_and_freezes_the_invoice(student, billing_user):
    year = timezone.localdate().year
    first = issued_invoice(student, billing_user, day=timezone.localdate() - timedelta(days=2))
    second = issued_invoice(student, billing_user, day=timezone.localdate() - timedelta(days=1))
    assert first.number == f"INV-{year}-000001" and second.number == f"INV-{year}-000002"
    assert first.status == InvoiceStatus.ISSUED and first.balance == Decimal("250.00")
    with pytest.raises(ValidationError):
        invoices.invoice_add_line(
            actor=billing_user,
            invoice=first,
            service=first.lines.first().service,
            quantity=Decimal("1"),
        )
    with pytest.raises(ValidationError):
        invoices.invoice_remove_line(actor=billing_user, line=first.lines.first())


def test_a_price_change_never_changes_an_issued_invoice(student, billing_user):
    inv = issued_invoice(student, billing_user)
    Price.objects.filter(service__code="LAB-CBC").update(amount=Decimal("999.00"))
    inv.refresh_from_db()
    assert inv.net_total == Decimal("250.00") and inv.lines.get().unit_price == Decimal("250.00")


def test_price_override_needs_a_reason(student, billing_user):
    line = charge(student).invoice_lines.get()
    with pytest.raises(ValidationError):
        invoices.invoice_override_price(
            actor=billing_user, line=line, unit_price_value="100", reason=""
        )
    invoices.invoice_override_price(
        actor=billing_user, line=line, unit_price_value="100", reason="Clinic promo"
    )
    line.invoice.refresh_from_db()
    assert line.invoice.net_total == Decimal("100.00")


def test_hmo_coverage_splits_lines_and_respects_the_annual_cap(employee, billing_user):
    coverage = hmo_coverage(employee, percent="80", cap=Decimal("150.00"))
    first = charge(employee, "LAB-CBC", day=timezone.localdate() - timedelta(days=1))  # 125.00
    inv = first.invoice_lines.get().invoice
    assert inv.coverage == coverage  # picked automatically
    inv = invoices.invoice_issue(actor=billing_user, invoice=inv)
    assert (inv.payer_total, inv.patient_total) == (Decimal("100.00"), Decimal("25.00"))
    second = charge(employee, "LAB-CBC").invoice_lines.get().invoice
    assert second.payer_total == Decimal("50.00")  # only 50 left of the 150 cap
    assert second.patient_total == Decimal("75.00")


def test_senior_discount_needs_the_id_and_applies_per_line(employee, billing_user):
    inv = charge(employee, "MEDS", unit_cost=Decimal("97.39")).invoice_lines.get().invoice
    # MEDS carries VAT: 97.39 × 1.15 = 112.00 list price
    assert inv.net_total == Decimal("112.00")
    with pytest.raises(ValidationError):
        invoices.invoice_set_terms(
            actor=billing_user, invoice=inv, coverage=None, statutory_discount="senior"
        )
    inv = invoices.invoice_set_terms(
        actor=billing_user,
        invoice=inv,
        coverage=None,
        statutory_discount="senior",
        statutory_id_number="SC-0042",
    )
    line = inv.lines.get()
    assert (line.vat_exemption, line.discount, line.net) == (
        Decimal("12.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    assert inv.discount_total == Decimal("32.00") and inv.statutory_id_number == "SC-0042"


def test_void_keeps_the_number_on_the_register_and_frees_the_charges(student, billing_user):
    inv = issued_invoice(student, billing_user)
    with pytest.raises(ValidationError):
        invoices.invoice_void(actor=billing_user, invoice=inv, reason=" ")
    inv = invoices.invoice_void(actor=billing_user, invoice=inv, reason="Wrong patient")
    assert inv.status == InvoiceStatus.VOID and inv.number and inv.voided_by == billing_user
    c = Charge.objects.get()
    assert c.status == ChargeStatus.UNBILLED
    redraft = charges.charge_bill(actor=billing_user, charge=c)
    reissued = invoices.invoice_issue(actor=billing_user, invoice=redraft)
    assert reissued.number.endswith("000002")  # a voided number is never reused
    assert Invoice.objects.filter(status="void").count() == 1


def test_credit_note_reduces_the_balance_and_is_numbered(student, billing_user):
    inv = issued_invoice(student, billing_user)
    with pytest.raises(ValidationError):
        invoices.credit_note_create(actor=billing_user, invoice=inv, amount="300", reason="x")
    note = invoices.credit_note_create(
        actor=billing_user, invoice=inv, amount="250", reason="Goodwill"
    )
    inv.refresh_from_db()
    assert note.number.startswith("CN-") and inv.balance == 0 and inv.status == InvoiceStatus.PAID


def test_write_off_needs_admin_approval(student, billing_user, admin_user):
    from django.core.exceptions import PermissionDenied

    inv = issued_invoice(student, billing_user)
    wo = invoices.writeoff_request(actor=billing_user, invoice=inv, reason="Indigent student")
    with pytest.raises(PermissionDenied):
        invoices.writeoff_decide(actor=billing_user, writeoff=wo, approve=True)
    invoices.writeoff_decide(actor=admin_user, writeoff=wo, approve=True)
    inv.refresh_from_db()
    assert inv.status == InvoiceStatus.WRITTEN_OFF and inv.written_off == Decimal("250.00")
    assert WriteOff.objects.get().decided_by == admin_user


def test_database_refuses_an_overpaid_invoice(student, billing_user):
    inv = issued_invoice(student, billing_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=inv.pk).update(amount_paid=Decimal("250.01"))


def test_financial_writes_are_audited(student, billing_user):
    from accounts.models import AuditEvent

    inv = issued_invoice(student, billing_user)
    assert AuditEvent.objects.filter(
        object_type="billing.invoice", object_id=str(inv.pk), actor=billing_user
    ).exists()
    assert AuditEvent.objects.filter(object_type="billing.charge", patient_id=student.pk).exists()
