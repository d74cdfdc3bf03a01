"""Real threads against PostgreSQL: 20 issuers get gap-free unique numbers; 20 payments
racing for the same open invoices never over-allocate."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from billing.models import Allocation, Invoice, Payment
from billing.services import invoices, payments
from billing.services.checks import billing_check
from tests.billing.conftest import charge, issued_invoice
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(n: int, work) -> list[Exception]:
    barrier = threading.Barrier(n)
    errors: list[Exception] = []
    lock = threading.Lock()

    def run(i: int):
        try:
            barrier.wait()
            work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_twenty_threads_issuing_at_once_get_gap_free_unique_numbers(catalogue, billing_user):
    drafts = []
    for _ in range(20):
        patient = PatientFactory()
        drafts.append(charge(patient).invoice_lines.get().invoice)
    errors = _race(20, lambda i: invoices.invoice_issue(actor=billing_user, invoice=drafts[i]))
    assert errors == []
    year = timezone.localdate().year
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 21)]
    assert not any(billing_check().values())


def test_twenty_payments_racing_for_the_same_invoices_never_over_allocate(student, billing_user):
    day = payments.cashier_day_open(actor=billing_user, opening_float=Decimal("0"))
    assert day
    for code in ("LAB-CBC", "LAB-UA", "LAB-FBS"):  # 250 + 100 + 150 = 500 owed
        issued_invoice(student, billing_user, code)
    errors = _race(
        20,
        lambda i: payments.payment_record(
            actor=billing_user,
            patient=student,
            amount=Decimal("60.00"),
            method="cash",
            idempotency_key=f"race-{i}",
        ),
    )
    assert errors == []
    assert Payment.objects.count() == 20
    assert Allocation.objects.aggregate(s=Sum("amount"))["s"] == Decimal("500.00")
    assert Payment.objects.aggregate(s=Sum("unallocated"))["s"] == Decimal("700.00")
    for inv in Invoice.objects.all():
        assert inv.amount_paid == inv.patient_due and inv.status == "paid"
    receipts = sorted(Payment.objects.values_list("receipt_number", flat=True))
    assert len(set(receipts)) == 20
    assert not any(billing_check().values())
