"""Billing fixtures: the standard catalogue, patients of each type, an open cashier day and
helpers that put charges on invoices."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.catalogue import catalogue_ensure
from billing.models import Coverage, Payer, Service
from billing.services import invoices, payments
from billing.services.charges import ChargeSpec, charge_capture
from tests.patients.factories import PatientFactory

_keys = itertools.count(1)


@pytest.fixture
def catalogue(db):
    catalogue_ensure()


@pytest.fixture
def student(catalogue):
    return PatientFactory(patient_type="student")


@pytest.fixture
def employee(catalogue):
    return PatientFactory(patient_type="employee", first_name="Emma", last_name="Ployee")


@pytest.fixture
def cashier_day(billing_user):
    return payments.cashier_day_open(actor=billing_user, opening_float=Decimal("500"))


def charge(
    patient,
    code: str = "LAB-CBC",
    *,
    day: date | None = None,
    quantity="1",
    unit_cost=None,
    key: str | None = None,
):
    """Capture a charge of ``code`` for ``patient`` (lands on the day's draft)."""
    spec = ChargeSpec(
        source_key=key or f"test:{next(_keys)}",
        patient_id=patient.pk,
        service=Service.objects.get(code=code),
        description=Service.objects.get(code=code).name,
        occurred_on=day or timezone.localdate(),
        quantity=Decimal(quantity),
        unit_cost=unit_cost,
    )
    return charge_capture(spec)[0]


def issued_invoice(patient, actor, *codes: str, day: date | None = None):
    """An issued invoice with one line per code (default: one CBC, ₱250 for a student)."""
    for code in codes or ("LAB-CBC",):
        c = charge(patient, code, day=day)
    inv = c.invoice_lines.get().invoice
    return invoices.invoice_issue(actor=actor, invoice=inv)


def hmo_coverage(patient, *, percent="80", cap=None, loa="LOA-1", loa_issued_on=None):
    return Coverage.objects.create(
        patient=patient,
        payer=Payer.objects.get(code="maxicare"),
        member_id="MX-1001",
        valid_from=date(2024, 1, 1),
        percent=Decimal(percent),
        annual_cap=cap,
        loa_number=loa,
        loa_issued_on=loa_issued_on or timezone.localdate(),
    )


@pytest.fixture
def world(catalogue, billing_user, admin_user, patient_user, other_patient_user):
    """A small billing office: the patient persona (a student) with an issued, partly paid
    invoice and a draft; an employee with an HMO claim submitted; an open cashier day;
    a pending write-off and refund; an unbilled charge."""
    from billing.services import claims

    me = PatientFactory(
        user=patient_user, patient_type="student", first_name="Pat", last_name="Student"
    )
    other = PatientFactory(user=other_patient_user, patient_type="student")
    emp = PatientFactory(patient_type="employee")
    day = payments.cashier_day_open(actor=billing_user, opening_float=Decimal("500"))
    today = timezone.localdate()
    inv = issued_invoice(me, billing_user, "LAB-CBC", "LAB-UA", day=today - timedelta(days=40))
    pay, _ = payments.payment_record(
        actor=billing_user,
        patient=me,
        amount=Decimal("100"),
        method="gcash",
        reference="GC-1",
        idempotency_key="w1",
    )
    draft = charge(me, "LAB-FBS", day=today).invoice_lines.get().invoice
    other_inv = issued_invoice(other, billing_user, "LAB-CBC", day=today - timedelta(days=2))
    other_pay, _ = payments.payment_record(
        actor=billing_user,
        patient=other,
        amount=Decimal("300"),
        method="cash",
        idempotency_key="w2",
    )
    refund = payments.refund_request(
        actor=billing_user, payment=other_pay, amount=Decimal("50"), reason="Overpaid"
    )
    hmo_coverage(emp, percent="80")
    emp_inv = issued_invoice(emp, billing_user, "LAB-CBC", day=today)
    claim = claims.claim_create(actor=billing_user, invoice=emp_inv)
    claims.claim_transition(actor=billing_user, claim=claim, to_status="submitted")
    wo = invoices.writeoff_request(actor=billing_user, invoice=emp_inv, reason="Goodwill")
    unbilled = charge(emp, "CERT", day=today)
    invoices.invoice_remove_line(actor=billing_user, line=unbilled.invoice_lines.get())
    unbilled.refresh_from_db()
    from billing.models import Price

    return {
        "me": me,
        "other": other,
        "emp": emp,
        "day": day,
        "invoice": inv,
        "payment": pay,
        "draft": draft,
        "other_invoice": other_inv,
        "other_payment": other_pay,
        "refund": refund,
        "claim": claim,
        "claim_line": claim.lines.get(),
        "writeoff": wo,
        "charge": unbilled,
        "emp_invoice": emp_inv,
        "price": Price.objects.first(),
        "line": draft.lines.get(),
        "price_list": Price.objects.first().price_list,
        "payer": claim.payer,
    }
