"""Reads for the invoice page and a patient's account page in hand-written SQL: on the
invoice page, what it lists under "Payments and credits" (allocations with their payments'
receipts, credit notes, write-offs, and the claims the lines are on) in one query instead of
four ORM querysets, built into the same model objects in the same order; on the account
page, its balance, a page of invoices, the latest payments and the coverages in one round
trip instead of six ORM querysets. The tests
(``tests/billing/test_billing_rows.py``) compare them with the querysets they stand in for."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from accounts.models import AuditAction
from billing import selectors
from billing.models import (
    Allocation,
    CashierDay,
    CashierDayStatus,
    Claim,
    Coverage,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    WriteOff,
)
from billing.reads import split
from billing.selectors import INVOICE_FIGURE_FIELDS, Balance
from billing.services.payments import EXPECTED_SQL, expected_from
from inventory.fastread import RawPaginator, RawRows, build, columns
from patients.models import Patient
from patients.selectors import patient_for_chart
from uscpis.compiled import fetch_together, instances_from_db
from uscpis.prepared import named_statement

_HISTORY = """
SELECT 0, a.id, a.created_at, a.amount, p.receipt_number, p.method, a.payment_id
  FROM billing_allocation a JOIN billing_payment p ON p.id = a.payment_id
 WHERE a.invoice_id = %(pk)s
UNION ALL
SELECT 1, c.id, c.created_at, c.amount, c.number, c.reason, NULL
  FROM billing_creditnote c WHERE c.invoice_id = %(pk)s
UNION ALL
SELECT 2, w.id, w.requested_at, w.amount, w.status, w.reason, NULL
  FROM billing_writeoff w WHERE w.invoice_id = %(pk)s
UNION ALL
SELECT 3, cl.id, NULL, NULL, cl.number, cl.status, l.id
  FROM billing_invoiceline l
  JOIN billing_claimline x ON x.invoice_line_id = l.id
  JOIN billing_claim cl ON cl.id = x.claim_id
 WHERE l.invoice_id = %(pk)s
"""


@dataclass
class InvoiceHistory:
    allocations: list[Allocation] = field(default_factory=list)  # by id, payment loaded
    credit_notes: list[CreditNote] = field(default_factory=list)  # newest first
    write_offs: list[WriteOff] = field(default_factory=list)  # newest first
    claims: list[Claim] = field(default_factory=list)  # the claims the lines are on, once each


def invoice_history(invoice: Invoice, rows: list[tuple] | None = None) -> InvoiceHistory:
    """``invoice.allocations.select_related("payment")``, ``invoice.credit_notes.all()``,
    ``invoice.write_offs.all()`` and the claims of its lines (as the page listed them: a set
    of the lines' claims, collected in line order) in one query (``rows``: its result, when
    :func:`invoice_page_reads` fetched it already). The objects carry the fields the page
    shows (and the ids they link to); the rest are not loaded."""
    if rows is None:
        with connection.cursor() as cursor:
            cursor.execute(_HISTORY, {"pk": invoice.pk})
            rows = cursor.fetchall()
    history = InvoiceHistory()
    claim_rows = []
    for kind, pk, at, amount, text, word, ref in rows:
        if kind == 0:
            allocation = Allocation(
                pk=pk, invoice_id=invoice.pk, payment_id=ref, amount=amount, created_at=at
            )
            allocation.payment = Payment(pk=ref, receipt_number=text, method=word)
            history.allocations.append(allocation)
        elif kind == 1:
            history.credit_notes.append(
                CreditNote(
                    pk=pk,
                    invoice_id=invoice.pk,
                    number=text,
                    amount=amount,
                    reason=word,
                    created_at=at,
                )
            )
        elif kind == 2:
            history.write_offs.append(
                WriteOff(
                    pk=pk,
                    invoice_id=invoice.pk,
                    status=text,
                    amount=amount,
                    reason=word,
                    requested_at=at,
                )
            )
        else:
            claim_rows.append((ref, pk, text, word))
    # The querysets' orders (Meta.ordering: allocations by id, the others newest first).
    history.allocations.sort(key=lambda a: a.pk)
    history.credit_notes.sort(key=lambda c: c.created_at, reverse=True)
    history.write_offs.sort(key=lambda w: w.requested_at, reverse=True)
    claim_rows.sort()
    # A set of Claim objects, filled in line order, listed: the order the page always had.
    history.claims = list({Claim(pk=pk, number=num, status=st) for _, pk, num, st in claim_rows})
    return history


def _line_models():
    fk = {f.name: f.related_model for f in InvoiceLine._meta.concrete_fields if f.is_relation}
    coverage = fk["coverage"]
    return InvoiceLine, fk["service"], fk["provider"], coverage, coverage.payer.field.related_model


def _lines_sql() -> str:
    line, service, provider, coverage, payer = _line_models()
    cols = ", ".join(
        columns(m, a)[0]
        for m, a in ((line, "l"), (service, "s"), (provider, "u"), (coverage, "c"), (payer, "p"))
    )
    # Table and column names from the models' meta; the values are parameters.
    return (
        f"SELECT {cols} FROM {line._meta.db_table} l "  # noqa: S608
        f"JOIN {service._meta.db_table} s ON s.id = l.service_id "
        f"LEFT JOIN {provider._meta.db_table} u ON u.id = l.provider_id "
        f"LEFT JOIN {coverage._meta.db_table} c ON c.id = l.coverage_id "
        f"LEFT JOIN {payer._meta.db_table} p ON p.id = c.payer_id "
        "WHERE l.invoice_id = %(pk)s AND l.voided = %(voided)s ORDER BY l.id"
    )


_LINES = None  # built on first use (the models must be loaded)


def invoice_page_reads(invoice: Invoice) -> tuple[list[InvoiceLine], InvoiceHistory]:
    """``selectors.invoice_lines(invoice)`` (the same line objects, with their service,
    provider and coverage's payer) and :func:`invoice_history`, in one round trip."""
    global _LINES
    if _LINES is None:
        _LINES = _lines_sql()
    params = {"pk": invoice.pk, "voided": invoice.status == InvoiceStatus.VOID}
    line_rows, history_rows = fetch_together(
        [named_statement(_LINES, params), named_statement(_HISTORY, params)]
    )
    return _lines_from(line_rows), invoice_history(invoice, history_rows)


def _lines_from(line_rows) -> list[InvoiceLine]:
    models = _line_models()
    lines = []
    for row in line_rows:
        line, service, provider, coverage, payer = split(row, models)
        line.service = service
        line.provider = provider
        if coverage is not None:
            coverage.payer = payer
        line.coverage = coverage
        lines.append(line)
    return lines


# The lines as the invoice page shows them when its status is not known yet (read in the same
# round trip as the invoice): a void invoice's voided lines, any other's current ones.
_LINES_OF_STATUS = None


def invoice_page_for_user(user, pk: int) -> tuple[Invoice, list[InvoiceLine], InvoiceHistory]:
    """``selectors.get_invoice_for_user(user, pk, purpose=READ)`` and
    :func:`invoice_page_reads` of it: the invoice, its lines and its history in one round
    trip, then the access check and the read event."""
    global _LINES_OF_STATUS
    if _LINES_OF_STATUS is None:
        lines = _lines_sql().replace(
            "l.voided = %(voided)s",
            f"l.voided = (SELECT i.status = %(void)s FROM {Invoice._meta.db_table} i "  # noqa: S608
            "WHERE i.id = %(pk)s)",
        )
        _LINES_OF_STATUS = (lines, _HISTORY)
    params = {"pk": pk, "void": InvoiceStatus.VOID.value}
    statements = [named_statement(sql, params) for sql in _LINES_OF_STATUS]
    invoice, (line_rows, history_rows) = selectors.get_invoice_with_reads_for_user(
        user, pk, purpose=AuditAction.READ, extra=statements
    )
    return invoice, _lines_from(line_rows), invoice_history(invoice, history_rows)


def _in_field_order(model, names) -> tuple[str, ...]:
    """``names`` (attnames) in the model's field order, the order ``from_db`` takes."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# --- The patient's billing account page, in one round trip ----------------------------------

ACCOUNT_PAGE_SIZE = 25
ACCOUNT_PAYMENTS = 10  # "Recent payments"
# What an invoice row shows (billing_rows.patient_invoice_rows: number, visit day, status,
# total and the balance computed from the shares and payments): these columns only, as
# ``.only()`` would load them.
ACCOUNT_INVOICE_FIELDS = ("id", "patient_id", *INVOICE_FIGURE_FIELDS)

# The balance from the trigger-kept per-patient row (billing 0005: a row while any of the
# patient's invoices is open, with their count and open balance); the credit from the
# payments holding some (``unallocated`` is never negative, a check constraint, so leaving
# out the zeros changes no sum), read from the partial index billing_pay_patient_credit
# instead of every payment a long-standing patient has made.
_ACCOUNT_BALANCE = """
SELECT COALESCE((SELECT invoices FROM billing_openbalancepatient WHERE patient_id = %(pk)s), 0),
       COALESCE((SELECT balance FROM billing_openbalancepatient WHERE patient_id = %(pk)s), 0.00),
       (SELECT COALESCE(SUM(unallocated), 0.00) FROM billing_payment
         WHERE patient_id = %(pk)s AND unallocated > 0)
"""
_ACCOUNT_COUNT = "SELECT count(*) FROM billing_invoice WHERE patient_id = %(pk)s"


@dataclass
class AccountPage:
    balance: Balance
    page: object  # the paginator's page of the patient's invoices
    payments: list[Payment]  # the latest ACCOUNT_PAYMENTS, newest first
    coverages: list[Coverage]  # payer loaded, as selectors.coverages_for


def _account_sql() -> tuple[str, str, str]:
    payer = Coverage._meta.get_field("payer").related_model
    invoice_cols = ", ".join(f"i.{a}" for a in _in_field_order(Invoice, ACCOUNT_INVOICE_FIELDS))
    payment_cols = columns(Payment, "p")[0]
    coverage_cols = f"{columns(Coverage, 'c')[0]}, {columns(payer, 'py')[0]}"
    # Table and column names from the models' meta; the values are parameters. The orders
    # are the querysets' (Invoice and Coverage Meta.ordering; payments "-received_at").
    invoices = (
        f"SELECT {invoice_cols} FROM {Invoice._meta.db_table} i "  # noqa: S608
        "WHERE i.patient_id = %(pk)s ORDER BY i.visit_day DESC, i.id DESC "
        "LIMIT %(limit)s OFFSET %(offset)s"
    )
    payments = (
        f"SELECT {payment_cols} FROM {Payment._meta.db_table} p "  # noqa: S608
        f"WHERE p.patient_id = %(pk)s ORDER BY p.received_at DESC LIMIT {ACCOUNT_PAYMENTS}"
    )
    coverages = (
        f"SELECT {coverage_cols} FROM {Coverage._meta.db_table} c "  # noqa: S608
        f"JOIN {payer._meta.db_table} py ON py.id = c.payer_id "
        "WHERE c.patient_id = %(pk)s ORDER BY c.valid_from DESC, c.id DESC"
    )
    return invoices, payments, coverages


_ACCOUNT_SQL = None  # built on first use (the models must be loaded)


def _invoices(rows) -> list[Invoice]:
    names = _in_field_order(Invoice, ACCOUNT_INVOICE_FIELDS)
    return instances_from_db(Invoice, connection.alias, names, rows)


def _account_statements(patient_id: int, page_number):
    """The account page's statements (positional parameters) for page ``page_number``, and
    what reads their rows: the invoice source and its paginator, and the page's bounds."""
    global _ACCOUNT_SQL
    if _ACCOUNT_SQL is None:
        invoices_sql, payments_sql, coverages_sql = _account_sql()
        _ACCOUNT_SQL = (
            invoices_sql,
            [
                (_ACCOUNT_BALANCE, True),
                (_ACCOUNT_COUNT, True),
                (invoices_sql, True),
                (payments_sql, False),
                (coverages_sql, True),
            ],
        )
    invoices_sql, statements = _ACCOUNT_SQL
    rows = RawRows(_ACCOUNT_COUNT, invoices_sql, {"pk": patient_id}, _invoices)
    paginator = RawPaginator(rows, ACCOUNT_PAGE_SIZE)
    bottom = paginator.first_row(paginator.number_asked(page_number))
    params = {"pk": patient_id, "limit": ACCOUNT_PAGE_SIZE, "offset": bottom}
    # Prepared on the connection but the latest payments, planned for each patient: the plan
    # PostgreSQL would keep for any patient sorts all of a long-standing patient's payments
    # instead of reading their index in order (the invoices' index, billing 0007, holds
    # their whole order, and is read in order by that plan).
    sent = [named_statement(sql, params, prepare=prepare) for sql, prepare in statements]
    return sent, rows, paginator, bottom


def _account_from(results, rows, paginator, bottom: int, page_number) -> AccountPage:
    balance, counted, invoice_rows, payment_rows, coverage_rows = results
    rows.prime(bottom, bottom + ACCOUNT_PAGE_SIZE, counted, invoice_rows)
    open_count, owed, credit = balance[0]
    payer = Coverage._meta.get_field("payer").related_model
    coverages = []
    for row in coverage_rows:
        coverage, coverage.payer = split(row, (Coverage, payer))
        coverages.append(coverage)
    return AccountPage(
        balance=Balance(owed=owed, credit=credit, open_invoices=open_count),
        page=paginator.get_page(page_number),
        payments=[build(Payment, row) for row in payment_rows],
        coverages=coverages,
    )


def patient_account_page(patient_id: int, page_number) -> AccountPage:
    """What the account page shows, read in one round trip: ``selectors.patient_balance``,
    the page ``page_number`` of ``selectors.invoice_list(patient_id=...)
    .only(*ACCOUNT_INVOICE_FIELDS)`` (25 a page;
    ``Paginator.get_page``'s answer for any number), the patient's ten latest payments and
    ``selectors.coverages_for``. The same model objects as those querysets; a page number
    past the end costs a second query (for the last page's rows)."""
    statements, rows, paginator, bottom = _account_statements(patient_id, page_number)
    results = fetch_together(statements)
    return _account_from(results, rows, paginator, bottom, paginator.number_asked(page_number))


def patient_account_for_user(user, patient_pk: int, page_number) -> tuple[Patient, AccountPage]:
    """The patient ``user`` may see (``get_patient_for_user``: a 404 otherwise, the read
    audited as ``billing.account``) and :func:`patient_account_page`; for staff who see every
    patient, the patient, the account's reads and the read event go in one round trip
    (``patients.selectors.patient_for_chart``)."""
    statements, rows, paginator, bottom = _account_statements(patient_pk, page_number)
    head = patient_for_chart(
        user,
        patient_pk,
        detail=None,
        allergies=False,
        extra=statements,
        object_type="billing.account",
    )
    account = _account_from(
        head.extra_rows, rows, paginator, bottom, paginator.number_asked(page_number)
    )
    return head.patient, account


# --- The cashier's page, in one round trip ----------------------------------------------------

CASHIER_PAYMENTS = 50  # "Payments today", newest first
CASHIER_RECENT_DAYS = 10  # "Your recent days"
# What a payment row shows (billing_rows.cashier_payment_rows): these columns only, as
# ``.only()`` would load them, and the patient's names.
CASHIER_PAYMENT_FIELDS = (
    "id",
    "patient_id",
    "cashier_day_id",
    "receipt_number",
    "received_at",
    "method",
    "amount",
)
CASHIER_PATIENT_FIELDS = ("id", "first_name", "middle_name", "last_name")


@dataclass
class CashierScreen:
    day: CashierDay | None  # the user's open day (``selectors.open_cashier_day``)
    recent: list[CashierDay]  # the user's latest days, by opening time
    expected: dict[str, Decimal] | None  # ``expected_by_method(day)`` while a day is open
    payments: list[Payment]  # the open day's latest payments, patients' names loaded


def _cashier_sql() -> list[str]:
    day_cols = columns(CashierDay, "d")[0]
    open_day = (
        f"FROM {CashierDay._meta.db_table} d "  # noqa: S608 - names from the models' meta
        "WHERE d.cashier_id = %(user)s AND d.status = %(open)s "
        "ORDER BY d.business_date DESC, d.id DESC LIMIT 1"
    )
    open_day_id = f"(SELECT d.id {open_day})"
    payment_cols = ", ".join(f"p.{a}" for a in _in_field_order(Payment, CASHIER_PAYMENT_FIELDS))
    patient_cols = ", ".join(f"pt.{a}" for a in _in_field_order(Patient, CASHIER_PATIENT_FIELDS))
    return [
        f"SELECT {day_cols} {open_day}",
        f"SELECT {day_cols} FROM {CashierDay._meta.db_table} d "  # noqa: S608
        f"WHERE d.cashier_id = %(user)s ORDER BY d.opened_at DESC LIMIT {CASHIER_RECENT_DAYS}",
        EXPECTED_SQL.format(day=open_day_id),
        f"SELECT {payment_cols}, {patient_cols} FROM {Payment._meta.db_table} p "  # noqa: S608
        f"JOIN {Patient._meta.db_table} pt ON pt.id = p.patient_id "
        f"WHERE p.cashier_day_id = {open_day_id} "
        f"ORDER BY p.received_at DESC LIMIT {CASHIER_PAYMENTS}",
    ]


_CASHIER_SQL = None  # built on first use (the models must be loaded)


def cashier_screen(user) -> CashierScreen:
    """The cashier's page for ``user`` in one round trip: their open day, their ten latest
    days (``-opened_at``), what the open day should hold by method (``expected_by_method``)
    and its fifty latest payments (``day.payments.select_related("patient")
    .only(...).order_by("-received_at")``, each with its day and patient set)."""
    global _CASHIER_SQL
    if _CASHIER_SQL is None:
        _CASHIER_SQL = _cashier_sql()
    params = {"user": user.pk, "open": CashierDayStatus.OPEN.value}
    day_rows, recent_rows, expected_rows, payment_rows = fetch_together(
        [named_statement(sql, params) for sql in _CASHIER_SQL]
    )
    recent = [build(CashierDay, row) for row in recent_rows]
    if not day_rows:
        return CashierScreen(day=None, recent=recent, expected=None, payments=[])
    day = build(CashierDay, day_rows[0])
    payment_names = _in_field_order(Payment, CASHIER_PAYMENT_FIELDS)
    patient_names = _in_field_order(Patient, CASHIER_PATIENT_FIELDS)
    n = len(payment_names)
    alias = connection.alias
    payments = instances_from_db(Payment, alias, payment_names, [r[:n] for r in payment_rows])
    patients = instances_from_db(Patient, alias, patient_names, [r[n:] for r in payment_rows])
    for payment, patient in zip(payments, patients, strict=True):
        Payment.cashier_day.field.set_cached_value(payment, day)
        Payment.patient.field.set_cached_value(payment, patient)
    return CashierScreen(
        day=day,
        recent=recent,
        expected=expected_from(expected_rows, day.opening_float),
        payments=payments,
    )
