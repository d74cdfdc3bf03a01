"""The open-balance summary AR ageing and the open-invoice list read (trigger-kept per visit
day and per patient, migration 0005): it follows every write path in the same transaction,
the screen's pages equal the computation over every open invoice for any data, ``billing
check`` catches a summary that drifted and ``billing rebuild-open`` mends it."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import screens, selectors
from billing.models import (
    OPEN_STATUSES,
    ClaimStatus,
    Invoice,
    OpenBalanceDay,
    OpenBalancePatient,
    OpenBalanceTotal,
    Payer,
    Payment,
)
from billing.services import claims, invoices, payments
from billing.services.checks import billing_check
from billing.templatetags.billing_lists import invoice_list_rows
from patients.models import Patient
from tests.billing.conftest import charge, hmo_coverage, issued_invoice
from tests.billing.test_screens import assert_invoice_list_page_is_the_reference
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 15)


def _summary_breaches() -> dict[str, list[str]]:
    return {k: v for k, v in billing_check().items() if "pen balances" in k or "count of" in k}


def _reference(today: date, per_page: int, number: int):
    """What the page showed before the summary: every open invoice grouped by patient."""
    rows = selectors._ar_rows(today, None, 0)
    page = rows[(number - 1) * per_page : number * per_page]
    totals = (rows[0][6], *rows[0][7:12]) if rows else None
    return [r[:6] for r in page], totals


def assert_report_equals_reference(today: date, per_page: int) -> None:
    rows = selectors._ar_rows(today, None, 0)
    pages = max(1, -(-len(rows) // per_page))
    for number in range(1, pages + 2):  # and one past the end: the last page again
        report = selectors.report_ar_by_patient(today, page=number, per_page=per_page)
        shown = min(number, pages)
        want_rows, want_totals = _reference(today, per_page, shown)
        assert report.page.number == shown
        assert report.page.paginator.count == len(rows)
        people = {
            p.pk: [f"{p.last_name}, {p.first_name}", p.id_number]
            for p in Patient.objects.filter(pk__in=[r[0] for r in want_rows])
        }
        assert report.rows == [[*people[r[0]], *r[1:6]] for r in want_rows]
        if want_totals:
            assert report.totals == [
                "All patients",
                f"{want_totals[0]} patients",
                *want_totals[1:],
            ]
        else:
            assert report.totals is None and report.rows == []


def _open_list_reference(date_from=None, date_to=None) -> selectors.ListTotals:
    qs = selectors.invoice_list(status="open", date_from=date_from, date_to=date_to)
    return selectors.invoice_list_totals(qs)  # no filters given: summed over the invoices


# --- Any data -------------------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=2)
invoice_spec = st.tuples(
    st.integers(min_value=0, max_value=5),  # patient
    st.integers(min_value=-3, max_value=400),  # days before TODAY (negative: future)
    st.sampled_from(["draft", "issued", "partially_paid", "paid", "void"]),
    amounts,  # patient share
    amounts,  # paid (capped at the share)
)
change = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(["issued", "partially_paid", "paid", "void"])),
    st.tuples(st.just("pay"), amounts),
    st.tuples(st.just("day"), st.integers(min_value=0, max_value=400)),
    st.tuples(st.just("patient"), st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("delete"), st.none()),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(invoice_spec, max_size=25),
    changes=st.lists(st.tuples(st.integers(min_value=0, max_value=24), change), max_size=12),
    per_page=st.integers(min_value=1, max_value=4),
    shift=st.integers(min_value=0, max_value=120),
)
def test_pages_equal_the_computation_over_every_open_invoice(
    catalogue, patients_six, specs, changes, per_page, shift
):
    """Invoices written straight to the table (no service), then edited, moved, settled and
    deleted: the summary follows; every page, the footer and the open list's totals equal
    the old computation, on the day written and ``shift`` days later (buckets move)."""
    with transaction.atomic():
        made = []
        for n, (who, ago, status, share, paid) in enumerate(specs):
            paid = min(paid, share) if status not in ("draft", "void") else Decimal("0")
            try:
                with transaction.atomic():  # a second draft that day is refused
                    made.append(
                        Invoice.objects.create(
                            patient=patients_six[who],
                            visit_day=TODAY - timedelta(days=ago),
                            status=status,
                            number=None if status == "draft" else f"T-{n}",
                            issued_at=None if status == "draft" else timezone.now(),
                            patient_total=share,
                            payer_total=Decimal("1"),
                            net_total=share + 1,
                            gross_total=share + 1,
                            amount_paid=paid,
                            voided_at=timezone.now(),  # a void needs both
                            void_reason="test",
                        )
                    )
            except IntegrityError:
                pass
        for index, (kind, value) in changes:
            if not made:
                break
            inv = made[index % len(made)]
            if not Invoice.objects.filter(pk=inv.pk).exists():
                continue
            qs = Invoice.objects.filter(pk=inv.pk)
            try:
                with transaction.atomic():  # a move onto another draft's day is refused
                    if kind == "status" and inv.status != "draft":
                        qs.update(
                            status=value, amount_paid=0 if value == "void" else inv.amount_paid
                        )
                    elif kind == "pay" and inv.status not in ("draft", "void"):
                        qs.update(amount_paid=min(value, inv.patient_total))
                    elif kind == "day":
                        qs.update(visit_day=TODAY - timedelta(days=value))
                    elif kind == "patient":
                        qs.update(patient=patients_six[value])
                    elif kind == "delete":
                        qs.delete()
            except IntegrityError:
                pass
            if kind != "delete":
                inv.refresh_from_db()
        assert _summary_breaches() == {k: [] for k in _summary_breaches()}
        for today in (TODAY, TODAY + timedelta(days=shift)):
            assert_report_equals_reference(today, per_page)
        for date_from, date_to in ((None, None), (TODAY - timedelta(days=60), TODAY)):
            filters = {"status": "open", "date_from": date_from, "date_to": date_to}
            filters = {k: v for k, v in filters.items() if v}
            qs = selectors.invoice_list(**filters)
            assert selectors.invoice_list_totals(qs, **filters) == _open_list_reference(
                date_from, date_to
            )
            # The page's rows: the same invoices in the same order, drawn the same.
            rows = selectors.invoice_list_rows(qs, **filters)
            assert isinstance(rows, selectors.OpenInvoiceRows)
            for start, stop in ((0, 100), (1, 3), (2, 2)):
                want = list(qs.only(*selectors.INVOICE_ROW_FIELDS)[start:stop])
                got = rows[start:stop]
                assert [i.pk for i in got] == [i.pk for i in want]
                assert invoice_list_rows(got) == invoice_list_rows(want)
            # The list's page and totals in one round trip, any page number.
            for number in ("1", "2", "99", None):
                assert_invoice_list_page_is_the_reference(number, per_page, **filters)
        # The account page's balance: the trigger-kept per-patient row.
        for patient in patients_six:
            got = screens.patient_account_page(patient.pk, None).balance
            assert got == selectors.patient_balance(patient.pk)
            assert str(got.owed) == str(selectors.patient_balance(patient.pk).owed)
        transaction.set_rollback(True)


@pytest.fixture
def patients_six(catalogue):
    return [PatientFactory(patient_type="student") for _ in range(6)]


# --- Every write path -------------------------------------------------------------------------


def _page_text(client) -> str:
    return client.get(reverse("billing:reports"), {"report": "ar_patient"}).content.decode()


def _consistent() -> None:
    assert not any(_summary_breaches().values()), _summary_breaches()
    assert_report_equals_reference(timezone.localdate(), 2)
    totals = selectors.open_invoice_totals()
    assert totals == _open_list_reference()


def test_every_write_path_keeps_the_summary_and_shows_on_the_next_request(
    student, employee, billing_user, admin_user, cashier_day, client_for
):
    c = client_for(billing_user)
    assert "Nothing in this period" in _page_text(c)
    today = timezone.localdate()

    # Issue (a draft owes nothing and is not counted).
    draft = charge(student, "LAB-CBC", day=today - timedelta(days=40)).invoice_lines.get().invoice
    _consistent()
    assert not OpenBalancePatient.objects.exists()
    inv = invoices.invoice_issue(actor=billing_user, invoice=draft)
    _consistent()
    page = _page_text(c)
    assert student.id_number in page and "1 patients" in page and "₱250.00" in page

    # A payment (part), then a credit note.
    payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("100"),
        method="cash",
        idempotency_key="w-1",
    )
    _consistent()
    assert "₱150.00" in _page_text(c)
    invoices.credit_note_create(actor=billing_user, invoice=inv, amount="30", reason="Promo")
    _consistent()
    assert "₱120.00" in _page_text(c)

    # A second invoice and its void.
    other = issued_invoice(student, billing_user, "LAB-UA", day=today - timedelta(days=3))
    _consistent()
    assert "₱220.00" in _page_text(c)
    invoices.invoice_void(actor=billing_user, invoice=other, reason="Wrong patient")
    _consistent()
    assert "₱120.00" in _page_text(c) and "₱220.00" not in _page_text(c)

    # Overpayment: the invoice is paid (leaves the report), the rest is credit; a refund.
    pay, _ = payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("200"),
        method="cash",
        idempotency_key="w-2",
    )
    _consistent()
    assert "Nothing in this period" in _page_text(c)
    assert OpenBalanceTotal.objects.get().patients == 0
    pay = Payment.objects.get(pk=pay.pk)
    refund = payments.refund_request(
        actor=billing_user, payment=pay, amount=pay.unallocated, reason="Change"
    )
    payments.refund_decide(actor=admin_user, refund=refund, approve=True)
    _consistent()

    # A write-off.
    third = issued_invoice(student, billing_user, "LAB-FBS", day=today - timedelta(days=70))
    _consistent()
    assert "₱150.00" in _page_text(c)
    wo = invoices.writeoff_request(actor=billing_user, invoice=third, reason="Hardship")
    invoices.writeoff_decide(actor=admin_user, writeoff=wo, approve=True)
    _consistent()
    assert "Nothing in this period" in _page_text(c)

    # A payer's remittance moves a share back to the patient.
    hmo_coverage(employee, percent="100", loa_issued_on=today - timedelta(days=100))
    claimed = issued_invoice(employee, billing_user, "LAB-CBC", day=today - timedelta(days=100))
    _consistent()
    claim = claims.claim_create(actor=billing_user, invoice=claimed)
    claims.claim_transition(actor=billing_user, claim=claim, to_status=ClaimStatus.SUBMITTED)
    claims.remittance_post(
        actor=billing_user,
        payer=Payer.objects.get(code="maxicare"),
        reference="R-1",
        received_on=today,
        amount="75",
        items=[
            claims.RemittanceItem(
                claim=claim, paid=Decimal("75"), patient_responsibility=Decimal("50")
            )
        ],
    )
    _consistent()
    page = _page_text(c)
    assert employee.id_number in page and "₱50.00" in page
    assert Invoice.objects.get(pk=claimed.pk).status in OPEN_STATUSES


def test_the_open_list_shows_a_new_invoice_on_the_next_request(student, billing_user, client_for):
    c = client_for(billing_user)
    issued_invoice(student, billing_user, "LAB-CBC")
    page = c.get(reverse("billing:invoices"), {"status": "open"}).content.decode()
    assert "1 invoice matching" in page and "₱250.00" in page
    issued_invoice(student, billing_user, "LAB-UA", day=timezone.localdate() - timedelta(days=1))
    page = c.get(reverse("billing:invoices"), {"status": "open"}).content.decode()
    assert "2 invoices matching" in page and "₱350.00" in page
    # Filtered by visit day, the totals are that day's.
    page = c.get(
        reverse("billing:invoices"),
        {"status": "open", "date_to": timezone.localdate() - timedelta(days=1)},
    ).content.decode()
    assert "1 invoice matching" in page and "₱100.00" in page


# --- Check and rebuild ------------------------------------------------------------------------


def test_check_catches_a_drifted_summary_and_rebuild_mends_it(student, billing_user):
    issued_invoice(student, billing_user, "LAB-CBC")
    issued_invoice(student, billing_user, "LAB-UA", day=timezone.localdate() - timedelta(days=9))
    call_command("billing", "check", stdout=io.StringIO())  # passes
    with connection.cursor() as cursor:  # the summary changed behind the triggers' back
        cursor.execute("UPDATE billing_openbalanceday SET balance = balance + 1")
        cursor.execute("DELETE FROM billing_openbalancepatient")
        cursor.execute("UPDATE billing_openbalancetotal SET patients = 7")
    with pytest.raises(CommandError):
        call_command("billing", "check", stdout=(out := io.StringIO()))
    text = out.getvalue()
    assert "FAIL Open balances by day equal the open invoices" in text
    assert "FAIL Open balances by patient equal the open invoices" in text
    assert "FAIL The count of patients with open invoices is right" in text
    call_command("billing", "rebuild-open", stdout=(out := io.StringIO()))
    assert "1 patients with open invoices" in out.getvalue()
    call_command("billing", "check", stdout=io.StringIO())
    assert OpenBalancePatient.objects.get().balance == Decimal("350.00")
    assert sorted(OpenBalanceDay.objects.values_list("balance", flat=True)) == [
        Decimal("100.00"),
        Decimal("250.00"),
    ]


def test_a_truncated_invoice_table_empties_the_summary(student, billing_user):
    issued_invoice(student, billing_user)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred checks
        cursor.execute("TRUNCATE billing_invoice CASCADE")
    assert not OpenBalanceDay.objects.exists() and not OpenBalancePatient.objects.exists()
    assert not OpenBalanceTotal.objects.exists()
