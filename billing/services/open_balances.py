"""The open-balance summary (``OpenBalanceDay``, ``OpenBalancePatient``,
``OpenBalanceTotal``): PostgreSQL triggers on ``billing_invoice`` keep it (migration 0005);
this module recomputes it from the invoices and lists where it disagrees with them."""

from __future__ import annotations

from django.db import connection, transaction

_REBUILD = [
    # SHARE mode: invoice writers wait until the rebuilt rows commit, readers do not.
    "LOCK TABLE billing_invoice IN SHARE MODE",
    "DELETE FROM billing_openbalanceday",
    "DELETE FROM billing_openbalancepatient",
    "DELETE FROM billing_openbalancetotal",
    "INSERT INTO billing_openbalanceday (visit_day, invoices, net_total, patient_total, balance)"
    " SELECT visit_day, count(*), sum(net_total), sum(patient_total), sum(open_balance)"
    " FROM billing_invoice WHERE status IN ('issued', 'partially_paid') GROUP BY visit_day",
    "INSERT INTO billing_openbalancepatient (patient_id, invoices, balance)"
    " SELECT patient_id, count(*), sum(open_balance)"
    " FROM billing_invoice WHERE status IN ('issued', 'partially_paid') GROUP BY patient_id",
    "INSERT INTO billing_openbalancetotal (id, patients)"
    " SELECT 1, count(*) FROM billing_openbalancepatient",
]


def open_balances_rebuild() -> int:
    """Recompute the summary from the invoices in one transaction (invoice writes wait for
    it); returns the number of patients with an open invoice. Only needed after writes that
    bypassed the triggers (``session_replication_role = replica``, a restore of part of the
    tables)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in _REBUILD:
            cursor.execute(sql)
        cursor.execute("SELECT patients FROM billing_openbalancetotal WHERE id = 1")
        return cursor.fetchone()[0]


# ``billing check`` entries: (name, SQL returning id, label, stored, expected).
CHECKS: list[tuple[str, str]] = [
    (
        "Open balances by day equal the open invoices",
        """
        SELECT coalesce(s.visit_day, i.visit_day), coalesce(s.visit_day, i.visit_day)::text,
               row(s.invoices, s.net_total, s.patient_total, s.balance)::text,
               row(i.invoices, i.net_total, i.patient_total, i.balance)::text
        FROM billing_openbalanceday s
        FULL JOIN (SELECT visit_day, count(*)::integer AS invoices, sum(net_total) AS net_total,
                          sum(patient_total) AS patient_total, sum(open_balance) AS balance
                   FROM billing_invoice WHERE status IN ('issued', 'partially_paid') GROUP BY visit_day) i
          ON i.visit_day = s.visit_day
        WHERE row(s.invoices, s.net_total, s.patient_total, s.balance)
              IS DISTINCT FROM row(i.invoices, i.net_total, i.patient_total, i.balance)
        """,
    ),
    (
        "Open balances by patient equal the open invoices",
        """
        SELECT coalesce(s.patient_id, i.patient_id),
               'patient #' || coalesce(s.patient_id, i.patient_id),
               row(s.invoices, s.balance)::text, row(i.invoices, i.balance)::text
        FROM billing_openbalancepatient s
        FULL JOIN (SELECT patient_id, count(*)::integer AS invoices, sum(open_balance) AS balance
                   FROM billing_invoice WHERE status IN ('issued', 'partially_paid') GROUP BY patient_id) i
          ON i.patient_id = s.patient_id
        WHERE row(s.invoices, s.balance) IS DISTINCT FROM row(i.invoices, i.balance)
        """,
    ),
    (
        "The count of patients with open invoices is right",
        """
        SELECT 1, 'patients with open invoices', coalesce(t.patients, 0), n.patients
        FROM (SELECT count(*) AS patients FROM billing_openbalancepatient) n
        LEFT JOIN billing_openbalancetotal t ON t.id = 1
        WHERE coalesce(t.patients, 0) <> n.patients
        """,
    ),
]
