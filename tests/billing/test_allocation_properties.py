"""Property tests: for any sequence of payments, refunds and credit notes, money is
conserved and ``billing check`` holds."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Allocation, Invoice, Payment
from billing.services import invoices, payments
from billing.services.checks import billing_check
from tests.billing.conftest import issued_invoice

pytestmark = pytest.mark.django_db

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("900"), places=2)
operation = st.one_of(
    st.tuples(st.just("pay"), amounts, st.sampled_from(["cash", "gcash"])),
    st.tuples(st.just("credit_note"), amounts, st.integers(min_value=0, max_value=2)),
    st.tuples(st.just("refund"), amounts, st.just(None)),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=8))
def test_any_sequence_conserves_money(student, billing_user, admin_user, ops):
    with transaction.atomic():
        payments.cashier_day_open(actor=billing_user, opening_float=Decimal("0"))
        invs = [
            issued_invoice(student, billing_user, code) for code in ("LAB-CBC", "LAB-UA", "LAB-FBS")
        ]
        received = Decimal("0")
        for n, (kind, amount, extra) in enumerate(ops):
            try:
                if kind == "pay":
                    payments.payment_record(
                        actor=billing_user,
                        patient=student,
                        amount=amount,
                        method=extra,
                        reference="R" if extra != "cash" else "",
                        idempotency_key=f"op-{n}",
                    )
                    received += amount
                elif kind == "credit_note":
                    invoices.credit_note_create(
                        actor=billing_user, invoice=invs[extra], amount=amount, reason="correction"
                    )
                else:
                    pay = Payment.objects.filter(patient=student, unallocated__gt=0).first()
                    if pay is None:
                        continue
                    refund = payments.refund_request(
                        actor=billing_user,
                        payment=pay,
                        amount=min(amount, pay.unallocated),
                        reason="r",
                    )
                    payments.refund_decide(actor=admin_user, refund=refund, approve=True)
            except ValidationError:
                pass  # refused operations (e.g. credit above balance) change nothing
        report = billing_check()
        assert not any(report.values()), report
        allocated = Allocation.objects.aggregate(s=Sum("amount"))["s"] or 0
        kept = Payment.objects.aggregate(u=Sum("unallocated"), r=Sum("refunded"))
        assert received == allocated + (kept["u"] or 0) + (kept["r"] or 0)
        for inv in Invoice.objects.all():
            assert 0 <= inv.amount_paid <= inv.patient_due
            assert inv.balance == inv.patient_due - inv.amount_paid >= 0
        # A patient has credit only once every invoice is paid off.
        if (kept["u"] or 0) > 0:
            assert all(inv.balance == 0 for inv in Invoice.objects.all())
        transaction.set_rollback(True)
