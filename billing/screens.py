"""Reads for the invoice page and a patient's account page in hand-written SQL: on the
invoice page, what it lists under "Payments and credits" (allocations with their payments'
receipts, credit notes, write-offs, and the claims the lines are on) in one query instead of
four ORM querysets, built into the same model objects in the same order; on the account
page, the balance and the invoice count in one query instead of three. The tests
(``tests/billing/test_billing_rows.py``) compare them with the querysets they stand in for."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from billing.models import (
    OPEN_STATUSES,
    Allocation,
    Claim,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    WriteOff,
)
from billing.reads import split
from billing.selectors import Balance
from inventory.fastread import columns, fetch_many

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
    line_rows, history_rows = fetch_many([_LINES, _HISTORY], params)
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
    return lines, invoice_history(invoice, history_rows)


_ACCOUNT = """
SELECT o.n, o.owed,
       (SELECT count(*) FROM billing_invoice WHERE patient_id = %(pk)s),
       (SELECT COALESCE(SUM(unallocated), 0.00) FROM billing_payment WHERE patient_id = %(pk)s)
  FROM (SELECT count(*) AS n, COALESCE(SUM(open_balance), 0.00) AS owed
          FROM billing_invoice
         WHERE patient_id = %(pk)s AND status IN ('issued', 'partially_paid')) AS o
"""
assert tuple(OPEN_STATUSES) == ("issued", "partially_paid")


def patient_account_summary(patient_id: int) -> tuple[Balance, int]:
    """``selectors.patient_balance(patient_id)`` and how many invoices the patient has (the
    account page's paginator count) in one query; each part reads its own index (the open
    invoices' partial index, the patient's invoices, the patient's payments)."""
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT, {"pk": patient_id})
        open_count, owed, invoice_count, credit = cursor.fetchone()
    return Balance(owed=owed, credit=credit, open_invoices=open_count), invoice_count
