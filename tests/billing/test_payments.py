"""Payments: receipts, the idempotency guard, allocation order, credit, refunds, the
cashier's day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from billing.models import Allocation, CashierDayStatus, InvoiceStatus, Payment
from billing.services import payments
from tests.billing.conftest import issued_invoice

pytestmark = pytest.mark.django_db


def _pay(patient, actor, amount, key, **kw):
    return payments.payment_record(
        actor=actor,
        patient=patient,
        amount=Decimal(amount),
        method=kw.pop("method", "cash"),
        idempotency_key=key,
        **kw,
    )


def test_a_payment_needs_an_open_cashier_day(student, billing_user):
    issued_invoice(student, billing_user)
    with pytest.raises(ValidationError, match="cashier day"):
        _pay(student, billing_user, "100", "k1")


def test_double_submitted_form_records_one_payment(student, billing_user, cashier_day):
    issued_invoice(student, billing_user)
    first, created = _pay(student, billing_user, "100", "same-key")
    again, created_again = _pay(student, billing_user, "100", "same-key")
    assert created and not created_again and first == again
    assert Payment.objects.count() == 1 and first.receipt_number.startswith("OR-")


def test_oldest_first_partial_then_credit(student, billing_user, cashier_day):
    today = timezone.localdate()
    old = issued_invoice(student, billing_user, day=today - timedelta(days=3))
    new = issued_invoice(student, billing_user, day=today)
    pay, _ = _pay(student, billing_user, "300", "k")
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == InvoiceStatus.PAID and new.status == InvoiceStatus.PARTIALLY_PAID
    assert new.balance == Decimal("200.00") and pay.unallocated == 0
    over, _ = _pay(student, billing_user, "500", "k2")
    new.refresh_from_db()
    assert new.status == InvoiceStatus.PAID and over.unallocated == Decimal("300.00")
    assert payments.patient_credit(student.pk) == Decimal("300.00")
    # the credit pays the next invoice when it is issued
    later = issued_invoice(student, billing_user, day=today + timedelta(days=1))
    assert later.status == InvoiceStatus.PAID
    assert payments.patient_credit(student.pk) == Decimal("50.00")


def test_chosen_invoice_is_paid_first(student, billing_user, cashier_day):
    today = timezone.localdate()
    old = issued_invoice(student, billing_user, day=today - timedelta(days=3))
    new = issued_invoice(student, billing_user, day=today)
    _pay(student, billing_user, "250", "k", invoice_ids=[new.pk])
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.status == InvoiceStatus.PAID and old.status == InvoiceStatus.ISSUED


def test_gcash_needs_its_reference(student, billing_user, cashier_day):
    issued_invoice(student, billing_user)
    with pytest.raises(ValidationError):
        _pay(student, billing_user, "100", "k", method="gcash")
    pay, _ = _pay(student, billing_user, "100", "k", method="gcash", reference="GC-991")
    assert pay.method == "gcash" and Allocation.objects.get().amount == Decimal("100.00")


def test_refund_of_credit_needs_approval_and_cannot_exceed_credit(
    student, billing_user, admin_user, cashier_day
):
    issued_invoice(student, billing_user)
    pay, _ = _pay(student, billing_user, "400", "k")
    with pytest.raises(ValidationError):
        payments.refund_request(actor=billing_user, payment=pay, amount="151", reason="x")
    refund = payments.refund_request(
        actor=billing_user, payment=pay, amount="150", reason="Overpaid"
    )
    with pytest.raises(PermissionDenied):
        payments.refund_decide(actor=billing_user, refund=refund, approve=True)
    payments.refund_decide(actor=admin_user, refund=refund, approve=True)
    pay.refresh_from_db()
    assert pay.unallocated == 0 and pay.refunded == Decimal("150.00")


def test_cashier_day_close_reports_expected_counted_and_difference(
    student, billing_user, cashier_day
):
    issued_invoice(student, billing_user)
    _pay(student, billing_user, "100", "a")
    _pay(student, billing_user, "50", "b", method="gcash", reference="GC-1")
    day = payments.cashier_day_close(
        actor=billing_user,
        day=cashier_day,
        counted={"cash": Decimal("590"), "gcash": Decimal("50")},
    )
    assert day.status == CashierDayStatus.CLOSED
    assert day.expected["cash"] == "600.00" and day.counted["cash"] == "590.00"
    with pytest.raises(ValidationError):
        payments.cashier_day_close(actor=billing_user, day=day, counted={})
    with pytest.raises(ValidationError, match="cashier day"):
        _pay(student, billing_user, "10", "c")


def test_chosen_invoices_are_paid_in_the_order_the_clerk_ticked_them(
    student, billing_user, cashier_day, client_for
):
    """Checkboxes post in page (date) order; the clerk ticked the newer invoice first, so the
    payment settles it first and only the rest goes to the older one."""
    from django.urls import reverse

    today = timezone.localdate()
    old = issued_invoice(student, billing_user, day=today - timedelta(days=3))
    new = issued_invoice(student, billing_user, day=today)
    c = client_for(billing_user)
    url = reverse("billing:payment_new", args=[student.pk])
    form = c.get(url, {"invoice": [new.pk]})
    assert b'name="invoice_order"' in form.content and b"js/billing.js" in form.content
    response = c.post(
        url,
        {
            "amount": "300",
            "method": "cash",
            "idempotency_key": "order-1",
            "invoices": [str(old.pk), str(new.pk)],  # as the browser sends them: page order
            "invoice_order": f"{new.pk},{old.pk}",  # as the clerk ticked them
        },
    )
    assert response.status_code == 302
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.status == InvoiceStatus.PAID
    assert old.amount_paid == Decimal("300.00") - new.amount_paid
    assert old.status == InvoiceStatus.PARTIALLY_PAID


def test_invoice_order_naming_unticked_or_junk_ids_is_ignored(student, billing_user):
    from billing.forms import PaymentForm

    today = timezone.localdate()
    a = issued_invoice(student, billing_user, day=today - timedelta(days=3))
    b = issued_invoice(student, billing_user, day=today)
    form = PaymentForm(
        {
            "amount": "1",
            "method": "cash",
            "idempotency_key": "k",
            "invoices": [str(a.pk), str(b.pk)],
            "invoice_order": f"999,x,{b.pk},{b.pk}",
        },
        open_invoices=[a, b],
    )
    assert form.is_valid(), form.errors
    assert form.chosen_invoice_ids() == [b.pk, a.pk]
