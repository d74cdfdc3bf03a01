"""``manage.py billing check``: the money invariants, verified across all rows with SQL.

Each check returns a list of human-readable breaches; an empty report means the books hold.
"""

from __future__ import annotations

from django.db import connection

from billing.services import open_balances

CHECKS: list[tuple[str, str]] = [
    (
        "Invoice totals equal the sum of their lines",
        """
        SELECT i.id, coalesce(i.number, 'draft #' || i.id), i.net_total, coalesce(sum(l.net), 0)
        FROM billing_invoice i
        LEFT JOIN billing_invoiceline l
          ON l.invoice_id = i.id AND l.voided = (i.status = 'void')
        GROUP BY i.id
        HAVING i.net_total <> coalesce(sum(l.net), 0)
            OR i.gross_total <> coalesce(sum(l.gross), 0)
            OR i.payer_total <> coalesce(sum(l.payer_share), 0)
            OR i.patient_total <> coalesce(sum(l.patient_share), 0)
        """,
    ),
    (
        "Amount paid equals the sum of allocations",
        """
        SELECT i.id, coalesce(i.number, 'draft #' || i.id), i.amount_paid, coalesce(sum(a.amount), 0)
        FROM billing_invoice i LEFT JOIN billing_allocation a ON a.invoice_id = i.id
        GROUP BY i.id HAVING i.amount_paid <> coalesce(sum(a.amount), 0)
        """,
    ),
    (
        "Credited equals the sum of credit notes",
        """
        SELECT i.id, i.number, i.credited, coalesce(sum(c.amount), 0)
        FROM billing_invoice i LEFT JOIN billing_creditnote c ON c.invoice_id = i.id
        GROUP BY i.id HAVING i.credited <> coalesce(sum(c.amount), 0)
        """,
    ),
    (
        "No invoice is paid beyond what the patient owes",
        """
        SELECT id, number, amount_paid, patient_total + moved_to_patient - credited - written_off
        FROM billing_invoice
        WHERE amount_paid > patient_total + moved_to_patient - credited - written_off
        """,
    ),
    (
        "Drafts and voids hold no payments",
        """
        SELECT i.id, coalesce(i.number, 'draft #' || i.id), i.status, i.amount_paid
        FROM billing_invoice i WHERE i.status IN ('draft', 'void') AND i.amount_paid <> 0
        """,
    ),
    (
        "Every payment is allocated, kept as credit or refunded, exactly",
        """
        SELECT p.id, p.receipt_number, p.amount,
               coalesce(sum(a.amount), 0) + p.unallocated + p.refunded
        FROM billing_payment p LEFT JOIN billing_allocation a ON a.payment_id = p.id
        GROUP BY p.id HAVING p.amount <> coalesce(sum(a.amount), 0) + p.unallocated + p.refunded
        """,
    ),
    (
        "Refunded equals the sum of approved refunds",
        """
        SELECT p.id, p.receipt_number, p.refunded, coalesce(sum(r.amount), 0)
        FROM billing_payment p
        LEFT JOIN billing_refund r ON r.payment_id = p.id AND r.status = 'approved'
        GROUP BY p.id HAVING p.refunded <> coalesce(sum(r.amount), 0)
        """,
    ),
    (
        "Claim totals equal their lines and settlements their remittances",
        """
        SELECT c.id, c.number, c.total, coalesce((SELECT sum(amount) FROM billing_claimline
               WHERE claim_id = c.id), 0)
        FROM billing_claim c
        WHERE c.total <> coalesce((SELECT sum(amount) FROM billing_claimline WHERE claim_id = c.id), 0)
           OR c.paid <> coalesce((SELECT sum(paid) FROM billing_remittanceline WHERE claim_id = c.id), 0)
        """,
    ),
    (
        "Stored open balance equals patient share − credit notes − write-offs − allocations",
        """
        SELECT i.id, coalesce(i.number, 'draft #' || i.id), i.open_balance,
               CASE WHEN i.status IN ('draft', 'void') THEN 0
                    ELSE i.patient_total + i.moved_to_patient - coalesce(c.s, 0)
                         - coalesce(w.s, 0) - coalesce(a.s, 0) END
        FROM billing_invoice i
        LEFT JOIN (SELECT invoice_id, sum(amount) AS s FROM billing_allocation
                   GROUP BY invoice_id) a ON a.invoice_id = i.id
        LEFT JOIN (SELECT invoice_id, sum(amount) AS s FROM billing_creditnote
                   GROUP BY invoice_id) c ON c.invoice_id = i.id
        LEFT JOIN (SELECT invoice_id, sum(amount) AS s FROM billing_writeoff
                   WHERE status = 'approved' GROUP BY invoice_id) w ON w.invoice_id = i.id
        WHERE i.open_balance IS DISTINCT FROM
              CASE WHEN i.status IN ('draft', 'void') THEN 0
                   ELSE i.patient_total + i.moved_to_patient - coalesce(c.s, 0)
                        - coalesce(w.s, 0) - coalesce(a.s, 0) END
        """,
    ),
    (
        "Open invoices have a balance; settled ones none",
        """
        SELECT id, number, status, open_balance FROM billing_invoice
        WHERE (status IN ('issued', 'partially_paid') AND open_balance < 0)
           OR (status = 'paid' AND open_balance <> 0)
        """,
    ),
    (
        "A written-off invoice's amount equals its approved write-offs",
        """
        SELECT i.id, i.number, i.written_off, coalesce(sum(w.amount), 0)
        FROM billing_invoice i
        LEFT JOIN billing_writeoff w ON w.invoice_id = i.id AND w.status = 'approved'
        GROUP BY i.id HAVING i.written_off <> coalesce(sum(w.amount), 0)
        """,
    ),
    *open_balances.CHECKS,  # the trigger-kept summary AR ageing reads
]

# Every issued document number of a series/year: 1..last_value, each exactly once.
NUMBER_SOURCES = [
    ("billing_invoice", "number"),
    ("billing_payment", "receipt_number"),
    ("billing_creditnote", "number"),
    ("billing_claim", "number"),
]


def _numbering_breaches(cursor) -> list[str]:
    union = " UNION ALL ".join(
        f"SELECT {col} AS n FROM {table} WHERE {col} IS NOT NULL"  # noqa: S608 - constants
        for table, col in NUMBER_SOURCES
    )
    sql = (  # table and column names are the constants above
        f"""
        WITH used AS (
            SELECT split_part(n, '-', 1) AS series, split_part(n, '-', 2)::int AS year,
                   split_part(n, '-', 3)::int AS value
            FROM ({union}) docs
        )
        SELECT s.series, s.year, s.last_value, count(u.value), count(DISTINCT u.value),
               coalesce(min(u.value), 0), coalesce(max(u.value), 0)
        FROM billing_numberseries s
        LEFT JOIN used u ON u.series = s.series AND u.year = s.year
        GROUP BY s.id
        """  # noqa: S608
    )
    cursor.execute(sql)
    breaches = []
    for series, year, last, count, distinct, low, high in cursor.fetchall():
        if count != distinct:
            breaches.append(f"{series}-{year}: {count - distinct} duplicate number(s)")
        if distinct != last or (last and (low != 1 or high != last)):
            breaches.append(
                f"{series}-{year}: counter at {last} but {distinct} numbers used "
                f"(lowest {low}, highest {high}): a gap"
            )
    return breaches


def billing_check() -> dict[str, list[str]]:
    """Run every invariant; returns ``{check name: [breaches]}`` (all lists empty = pass)."""
    report: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for name, sql in CHECKS:
            cursor.execute(sql + " LIMIT 50")  # noqa: S608 - constant SQL
            report[name] = [
                f"{row[1]}: stored {row[2]}, expected {row[3]}" for row in cursor.fetchall()
            ]
        report["Document numbers are gap-free and unique"] = _numbering_breaches(cursor)
    return report
