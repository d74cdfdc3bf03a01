"""Billing fixtures: the standard catalogue, patients of each type, an open cashier day and
helpers that put charges on invoices."""

from __future__ import annotations

import itertools
from datetime import date
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


def charge(patient, code: str = "LAB-CBC", *, day: date | None = None, quantity="1",
           unit_cost=None, key: str | None = None):
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
