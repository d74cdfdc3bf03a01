"""The stored open balance follows every change to its sources in the same transaction; AR
ageing by patient buckets and pages correctly with grand totals over every patient; the
open-invoice list carries totals; ``billing check`` catches a balance that disagrees with
its sources; query counts do not grow with rows."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from billing import selectors
from billing.models import Invoice, InvoiceStatus
from billing.services import invoices, payments
from tests.billing.conftest import charge, issued_invoice
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _stored(invoice) -> Decimal:
    return Invoice.objects.values_list("open_balance", flat=True).get(pk=invoice.pk)


def test_stored_balance_follows_payments_credits_writeoffs_and_void(
    student, billing_user, admin_user, cashier_day
):
    draft = charge(student, "LAB-CBC").invoice_lines.get().invoice
    assert _stored(draft) == 0  # drafts owe nothing yet
    inv = invoices.invoice_issue(actor=billing_user, invoice=draft)
    assert _stored(inv) == Decimal("250.00")
    payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("100"),
        method="cash",
        idempotency_key="p1",
    )
    assert _stored(inv) == Decimal("150.00")
    invoices.credit_note_create(actor=billing_user, invoice=inv, amount="30", reason="Promo")
    assert _stored(inv) == Decimal("120.00")
    wo = invoices.writeoff_request(actor=billing_user, invoice=inv, reason="Hardship")
    invoices.writeoff_decide(actor=admin_user, writeoff=wo, approve=True)
    inv.refresh_from_db()
    assert _stored(inv) == inv.balance == 0
    other = issued_invoice(student, billing_user, "LAB-UA")
    assert _stored(other) == Decimal("100.00")
    invoices.invoice_void(actor=billing_user, invoice=other, reason="Wrong patient")
    assert _stored(other) == 0


def _ageing_world(billing_user):
    today = timezone.localdate()
    a = PatientFactory(patient_type="student", last_name="Aaa")
    b = PatientFactory(patient_type="student", last_name="Bbb")
    c = PatientFactory(patient_type="student", last_name="Ccc")
    issued_invoice(a, billing_user, "LAB-CBC", day=today - timedelta(days=5))  # 250 0–30
    issued_invoice(a, billing_user, "LAB-UA", day=today - timedelta(days=45))  # 100 31–60
    issued_invoice(b, billing_user, "LAB-FBS", day=today - timedelta(days=75))  # 150 61–90
    issued_invoice(c, billing_user, "LAB-UA", day=today - timedelta(days=200))  # 100 90+
    return a, b, c


def test_ar_ageing_buckets_pages_and_grand_totals(catalogue, billing_user):
    a, b, c = _ageing_world(billing_user)
    page1 = selectors.report_ar_by_patient(page=1, per_page=2)
    assert [r[1] for r in page1.rows] == [a.id_number, b.id_number]  # largest balance first
    assert page1.rows[0][2:] == [Decimal("250.00"), Decimal("100.00"), 0, 0, Decimal("350.00")]
    assert page1.rows[1][2:] == [0, 0, Decimal("150.00"), 0, Decimal("150.00")]
    # The grand total covers every patient, not just this page.
    assert page1.totals == [
        "All patients",
        "3 patients",
        Decimal("250.00"),
        Decimal("100.00"),
        Decimal("150.00"),
        Decimal("100.00"),
        Decimal("600.00"),
    ]
    assert page1.page.paginator.num_pages == 2 and page1.page.has_next()
    page2 = selectors.report_ar_by_patient(page=2, per_page=2)
    assert [r[1] for r in page2.rows] == [c.id_number]
    assert page2.rows[0][2:] == [0, 0, 0, Decimal("100.00"), Decimal("100.00")]
    assert page2.totals == page1.totals
    past_end = selectors.report_ar_by_patient(page=9, per_page=2)
    assert past_end.page.number == 2 and [r[1] for r in past_end.rows] == [c.id_number]
    everything = selectors.report_ar_by_patient(page=None)
    assert len(everything.rows) == 3 and everything.page is None
    assert sum(r[6] for r in everything.rows) == everything.totals[6]


def test_ar_ageing_page_and_csv(catalogue, billing_user, client_for, monkeypatch):
    a, b, c_ = _ageing_world(billing_user)
    monkeypatch.setattr(selectors, "AR_PAGE_SIZE", 2)
    c = client_for(billing_user)
    page = c.get(reverse("billing:reports"), {"report": "ar_patient"}).content.decode()
    assert "All patients" in page and "3 patients" in page and "₱600.00" in page
    # The screen shows one page (not every patient); the next page has the rest.
    assert "Page 1 of 2" in page and a.id_number in page and c_.id_number not in page
    page2 = c.get(reverse("billing:reports"), {"report": "ar_patient", "page": 2}).content.decode()
    assert c_.id_number in page2 and a.id_number not in page2 and "₱600.00" in page2
    csv = c.get(reverse("billing:reports"), {"report": "ar_patient", "export": "csv"})
    lines = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert len(lines) == 1 + 3 + 1 and lines[-1].startswith("All patients")
    assert c.get(reverse("billing:reports"), {"report": "ar_patient", "page": "x"}).status_code == (
        200
    )


def test_open_invoice_list_has_totals(catalogue, billing_user, client_for):
    _ageing_world(billing_user)
    c = client_for(billing_user)
    page = c.get(reverse("billing:invoices"), {"status": "open"}).content.decode()
    assert "4 invoices matching" in page and "₱600.00" in page


@pytest.mark.parametrize(
    "params,limit",
    [({"status": "open"}, 12), ({"report": "ar_patient"}, 10), ({"report": "ar_payer"}, 10)],
)
def test_query_counts_do_not_grow_with_rows(
    params, limit, catalogue, billing_user, client_for, django_assert_max_num_queries
):
    url = reverse("billing:invoices" if "status" in params else "billing:reports")
    c = client_for(billing_user)
    _ageing_world(billing_user)
    with django_assert_max_num_queries(limit) as few:
        assert c.get(url, params).status_code == 200
    for _ in range(6):
        issued_invoice(PatientFactory(patient_type="student"), billing_user, "LAB-UA")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get(url, params).status_code == 200


def test_check_catches_a_stored_balance_that_disagrees_with_its_sources(student, billing_user):
    inv = issued_invoice(student, billing_user)
    Invoice.objects.filter(pk=inv.pk).update(
        amount_paid=Decimal("50"), status=InvoiceStatus.PARTIALLY_PAID
    )
    with pytest.raises(CommandError):
        call_command("billing", "check", stdout=(out := io.StringIO()))
    text = out.getvalue()
    assert "FAIL Stored open balance equals" in text and "stored 200.00, expected 250.00" in text


def test_the_charts_owed_figure_is_the_balances(student, billing_user, cashier_day):
    """``patient_owed`` (the chart's balance button) is ``patient_balance().owed``: open
    invoices only, after a part payment, and zero (with centavos) when nothing is open."""
    assert selectors.patient_owed(student.pk) == selectors.patient_balance(student.pk).owed
    assert str(selectors.patient_owed(student.pk)) == "0.00"
    issued_invoice(student, billing_user, "LAB-UA")
    inv = issued_invoice(student, billing_user, "LAB-CBC")
    charge(student, "LAB-CBC")  # a draft owes nothing yet
    payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("40"),
        method="cash",
        idempotency_key="owed-1",
    )
    owed = selectors.patient_owed(student.pk)
    assert owed == selectors.patient_balance(student.pk).owed == Decimal("310.00")
    invoices.invoice_void(actor=billing_user, invoice=inv, reason="Wrong test")
    assert selectors.patient_owed(student.pk) == selectors.patient_balance(student.pk).owed


def test_the_charts_owed_figure_follows_every_open_invoice_change(
    student, employee, billing_user, cashier_day
):
    """The kept per-patient balance the chart reads is the sum over the patient's open
    invoices (the statement it replaced) after issuing, paying in part, voiding, and for a
    patient with nothing open."""
    from django.db import connection

    def summed(patient_id):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT SUM(open_balance) FROM billing_invoice "
                "WHERE patient_id = %s AND status IN ('issued', 'partially_paid')",
                [patient_id],
            )
            total = cursor.fetchone()[0]
        return Decimal("0.00") if total is None else total + Decimal("0.00")

    def same():
        for p in (student, employee):
            owed = selectors.patient_owed(p.pk)
            assert owed == summed(p.pk)
            assert str(owed) == str(summed(p.pk))

    same()
    issued_invoice(student, billing_user, "LAB-UA")
    inv = issued_invoice(student, billing_user, "LAB-CBC")
    same()
    payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("40.50"),
        method="cash",
        idempotency_key="owed-follow-1",
    )
    same()
    invoices.invoice_void(actor=billing_user, invoice=inv, reason="Wrong test")
    same()
