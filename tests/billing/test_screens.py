"""The one-round-trip reads behind the patient account page, the cashier's page and the
open-invoice list (billing/screens.py, billing/selectors.py) are the querysets and the
computations they replaced, for any data: balances and credit to the centavo, the same
objects in the same order, any page number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import screens, selectors
from billing.models import (
    ZERO,
    ApprovalStatus,
    CashierDay,
    Invoice,
    Payment,
    PaymentMethod,
    Refund,
)
from billing.services import payments as payment_services
from tests.billing.conftest import hmo_coverage, issued_invoice
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

PAGE_NUMBERS = (None, "1", "2", "3", "9", "0", "-1", "x", "1.5", "")


def _values(obj) -> dict:
    """The loaded fields of a model instance (deferred ones left out, as they were)."""
    return {k: v for k, v in obj.__dict__.items() if not k.startswith("_")}


# --- The patient account page ---------------------------------------------------------------


def _account_reference(patient_id: int, number):
    """What the page read before: six ORM querysets."""
    invoices = (
        selectors.invoice_list(patient_id=patient_id)
        .select_related(None)
        .only(*screens.ACCOUNT_INVOICE_FIELDS)
    )
    page = Paginator(invoices, screens.ACCOUNT_PAGE_SIZE).get_page(number)
    payments = list(Payment.objects.filter(patient_id=patient_id).order_by("-received_at")[:10])
    return (
        selectors.patient_balance(patient_id),
        page,
        payments,
        selectors.coverages_for(patient_id),
    )


def assert_account_page_is_the_reference(patient_id: int, number) -> None:
    got = screens.patient_account_page(patient_id, number)
    balance, page, payments, coverages = _account_reference(patient_id, number)
    assert got.balance == balance
    assert str(got.balance.owed) == str(balance.owed)  # centavos, as the ORM's sum
    assert str(got.balance.credit) == str(balance.credit)
    assert got.page.number == page.number
    assert got.page.paginator.count == page.paginator.count
    assert got.page.paginator.num_pages == page.paginator.num_pages
    assert [_values(i) for i in got.page] == [_values(i) for i in page]
    assert [_values(p) for p in got.payments] == [_values(p) for p in payments]
    assert [(_values(c), _values(c.payer)) for c in got.coverages] == [
        (_values(c), _values(c.payer)) for c in coverages
    ]


def test_account_page_is_the_querysets_it_replaced(world, billing_user):
    emp = world["emp"]
    for n in range(27):  # two pages and a bit
        issued_invoice(emp, billing_user, "LAB-UA", day=world["day"].business_date - timedelta(n))
    hmo_coverage(emp, percent="50", loa="LOA-<2>")
    for i in range(12):  # more payments than the page lists, some leaving credit
        payment_services.payment_record(
            actor=billing_user,
            patient=emp,
            amount=Decimal("7.35") * (i + 1),
            method="cash",
            idempotency_key=f"acct-{i}",
        )
    empty = PatientFactory()
    for patient in (world["me"], world["other"], emp, empty):
        for number in PAGE_NUMBERS:
            assert_account_page_is_the_reference(patient.pk, number)
    page = screens.patient_account_page(emp.pk, "9")
    assert page.page.number == 2 and len(page.page) == 28 - 25  # the last page
    assert len(page.payments) == 10 and page.balance.credit > 0
    assert [c.payer.name for c in page.coverages]
    # One round trip for a page in range.
    with CaptureQueriesContext(connection) as queries:
        screens.patient_account_page(emp.pk, "2")
    assert len(queries.captured_queries) == 1


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payments=st.lists(
        st.tuples(st.integers(0, 2), money, st.integers(0, 100), st.integers(0, 100)),
        max_size=14,
    )
)
def test_account_credit_is_every_payments_credit(catalogue, billing_user, payments):
    """Payments written straight to the table with any split of amount into credit, refunds
    and the rest: the credit the page reads (the payments holding some) is the sum over all
    of the patient's payments, to the centavo."""
    with transaction.atomic():
        patients = [PatientFactory() for _ in range(3)]
        day = CashierDay.objects.create(
            cashier=billing_user, business_date=datetime(2026, 1, 5).date()
        )
        for n, (who, amount, credit_pct, refund_pct) in enumerate(payments):
            refunded = (amount * refund_pct / 100).quantize(Decimal("0.01"))
            credit = ((amount - refunded) * credit_pct / 100).quantize(Decimal("0.01"))
            Payment.objects.create(
                patient=patients[who],
                cashier_day=day,
                method="cash",
                amount=amount,
                unallocated=credit,
                refunded=refunded,
                receipt_number=f"T-OR-{n}",
                idempotency_key=f"t-{n}",
                received_by=billing_user,
                # distinct times, not in the order written (n < 101)
                received_at=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(hours=(n * 37) % 101),
            )
        for patient in patients:
            assert_account_page_is_the_reference(patient.pk, None)
            want = Payment.objects.filter(patient=patient).aggregate(s=Sum("unallocated"))["s"]
            got = screens.patient_account_page(patient.pk, None).balance.credit
            assert got == (want or ZERO) and str(got) == str(want or ZERO)
        transaction.set_rollback(True)


# --- The cashier's page ------------------------------------------------------------------------


def _expected_reference(day) -> dict[str, Decimal]:
    """``expected_by_method`` as it was: two grouped querysets."""
    totals = dict.fromkeys(PaymentMethod.values, ZERO)
    for row in day.payments.values("method").annotate(total=Sum("amount")):
        totals[row["method"]] += row["total"]
    for row in (
        Refund.objects.filter(payment__cashier_day=day, status=ApprovalStatus.APPROVED)
        .values("payment__method")
        .annotate(total=Sum("amount"))
    ):
        totals[row["payment__method"]] -= row["total"]
    totals[PaymentMethod.CASH] += day.opening_float
    return totals


def assert_cashier_screen_is_the_reference(user) -> None:
    screen = screens.cashier_screen(user)
    day = selectors.open_cashier_day(user)
    recent = list(CashierDay.objects.filter(cashier=user).order_by("-opened_at")[:10])
    assert [_values(d) for d in screen.recent] == [_values(d) for d in recent]
    if day is None:
        assert screen.day is None and screen.payments == [] and screen.expected is None
        return
    assert _values(screen.day) == _values(day)
    want = _expected_reference(day)
    assert screen.expected == want == payment_services.expected_by_method(day)
    assert [str(v) for v in screen.expected.values()] == [str(v) for v in want.values()]
    payments = list(
        day.payments.select_related("patient")
        .only(
            "cashier_day",
            "receipt_number",
            "received_at",
            "method",
            "amount",
            "patient__first_name",
            "patient__middle_name",
            "patient__last_name",
        )
        .order_by("-received_at")[:50]
    )
    assert [_values(p) for p in screen.payments] == [_values(p) for p in payments]
    assert [_values(p.patient) for p in screen.payments] == [_values(p.patient) for p in payments]
    assert all(p.cashier_day is screen.day for p in screen.payments)


def test_cashier_screen_is_the_querysets_it_replaced(world, billing_user, admin_user):
    assert_cashier_screen_is_the_reference(billing_user)  # the world's open day
    payment_services.refund_decide(actor=admin_user, refund=world["refund"], approve=True)
    for i in range(55):  # more than the page lists
        payment_services.payment_record(
            actor=billing_user,
            patient=world["emp"],
            amount=Decimal("1.01"),
            method="maya" if i % 3 else "cash",
            reference=f"M-{i}",
            idempotency_key=f"cs-{i}",
        )
    assert_cashier_screen_is_the_reference(billing_user)
    screen = screens.cashier_screen(billing_user)
    assert len(screen.payments) == 50 and screen.expected["maya"] > 0
    assert_cashier_screen_is_the_reference(admin_user)  # no day open: nothing but the history
    payment_services.cashier_day_close(
        actor=billing_user, day=world["day"], counted={"cash": Decimal("1")}
    )
    assert_cashier_screen_is_the_reference(billing_user)  # closed: only the recent days
    with CaptureQueriesContext(connection) as queries:
        screens.cashier_screen(billing_user)
    assert len(queries.captured_queries) == 1


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    float_=st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=2),
    payments=st.lists(
        st.tuples(
            st.sampled_from(PaymentMethod.values),
            money,
            st.booleans(),  # on this day or another cashier's
            st.lists(st.tuples(st.sampled_from(ApprovalStatus.values), money), max_size=2),
        ),
        max_size=12,
    ),
)
def test_expected_by_method_is_the_two_query_computation(
    catalogue, billing_user, admin_user, float_, payments
):
    """Any takings and refunds (approved, asked for, rejected; on this day or another):
    ``expected_by_method`` and the cashier's page show what the two grouped queries gave,
    to the centavo."""
    with transaction.atomic():
        patient = PatientFactory()
        start = datetime(2026, 1, 5, 1, tzinfo=UTC)
        day = CashierDay.objects.create(
            cashier=billing_user, business_date=start.date(), opening_float=float_
        )
        other = CashierDay.objects.create(cashier=admin_user, business_date=start.date())
        for n, (method, amount, here, refunds) in enumerate(payments):
            payment = Payment.objects.create(
                patient=patient,
                cashier_day=day if here else other,
                method=method,
                reference="" if method == "cash" else f"R-{n}",
                amount=amount,
                receipt_number=f"T-OR-{n}",
                idempotency_key=f"t-{n}",
                received_by=billing_user,
                # distinct times, not in the order written (n < 101)
                received_at=start + timedelta(minutes=(n * 37) % 101),
            )
            for status, refund in refunds:
                Refund.objects.create(
                    payment=payment,
                    amount=refund,
                    status=status,
                    reason="t",
                    requested_by=admin_user,
                )
        want = _expected_reference(day)
        assert payment_services.expected_by_method(day) == want
        assert screens.cashier_screen(billing_user).expected == want
        assert [str(v) for v in payment_services.expected_by_method(day).values()] == [
            str(v) for v in want.values()
        ]
        assert_cashier_screen_is_the_reference(billing_user)
        transaction.set_rollback(True)


# --- The open-invoice list ---------------------------------------------------------------------


def assert_invoice_list_page_is_the_reference(number, per_page: int, **filters) -> None:
    """``selectors.invoice_list_page`` is what the view did before: the totals, then a
    paginator over ``invoice_list_rows`` told the count."""
    qs = selectors.invoice_list(**filters)
    totals = selectors.invoice_list_totals(qs, **filters)
    paginator = Paginator(qs.only(*selectors.INVOICE_ROW_FIELDS), per_page)
    paginator.count = totals.count
    want = paginator.get_page(number)
    got_totals, got = selectors.invoice_list_page(number, per_page, **filters)
    assert got_totals == totals
    assert (got.number, got.paginator.num_pages) == (want.number, want.paginator.num_pages)
    assert [_values(i) for i in got] == [_values(i) for i in want]
    assert [_values(i.patient) for i in got] == [_values(i.patient) for i in want]


def test_invoice_list_page_is_the_totals_and_the_paginator(world, billing_user):
    day = world["day"].business_date
    for n in range(7):
        issued_invoice(world["other"], billing_user, "LAB-UA", day=day - timedelta(days=n * 9))
    for filters in (
        {"status": "open"},
        {"status": "open", "date_from": day - timedelta(days=30)},
        {"status": "open", "date_from": day - timedelta(days=30), "date_to": day},
        {"status": "draft"},
        {},
    ):
        for per_page in (1, 3, 25):
            for number in PAGE_NUMBERS:
                assert_invoice_list_page_is_the_reference(number, per_page, **filters)
    with CaptureQueriesContext(connection) as queries:
        selectors.invoice_list_page("2", 3, status="open")
    assert len(queries.captured_queries) == 1
    assert Invoice.objects.filter(status__in=("issued", "partially_paid")).count() >= 8
