"""Hand-written SQL for the invoice a billing page opens, read into the model objects the ORM
would give (``inventory.fastread``'s builders: ``Model.from_db`` with each field's converter).
Compiling ``select_related`` over five tables cost more Python than PostgreSQL spent
answering it; the SQL here is written once per process. ``tests/billing/test_billing_rows.py``
checks it field for field against the ORM query it stands in for."""

from __future__ import annotations

from functools import lru_cache

from django.db import connection

from billing.models import Invoice
from inventory.fastread import build, columns, width


def split(row, models) -> list:
    """``row`` (the columns of each of ``models`` in turn) cut into one instance per model;
    None where a LEFT JOIN found nothing."""
    out, at = [], 0
    for model in models:
        n = width(model)
        part = row[at : at + n]
        at += n
        out.append(None if part[0] is None else build(model, part))
    return out


def _related(model, name: str):
    return model._meta.get_field(name).related_model


@lru_cache(maxsize=1)
def _invoice_sql() -> tuple[str, tuple]:
    patient = _related(Invoice, "patient")
    user = _related(Invoice, "issued_by")
    coverage = _related(Invoice, "coverage")
    payer = _related(coverage, "payer")
    models = (Invoice, patient, user, user, coverage, payer)
    aliases = ("i", "pt", "ib", "vb", "c", "p")
    cols = ", ".join(columns(m, a)[0] for m, a in zip(models, aliases, strict=True))
    # Table and column names from the models' meta; the id is a parameter.
    sql = (
        f"SELECT {cols} FROM {Invoice._meta.db_table} i "  # noqa: S608
        f"JOIN {patient._meta.db_table} pt ON pt.id = i.patient_id "
        f"LEFT JOIN {user._meta.db_table} ib ON ib.id = i.issued_by_id "
        f"LEFT JOIN {user._meta.db_table} vb ON vb.id = i.voided_by_id "
        f"LEFT JOIN {coverage._meta.db_table} c ON c.id = i.coverage_id "
        f"LEFT JOIN {payer._meta.db_table} p ON p.id = c.payer_id "
        "WHERE i.id = %s"
    )
    return sql, models


def invoice_with_parties(pk) -> Invoice:
    """``Invoice.objects.select_related("patient", "issued_by", "voided_by",
    "coverage__payer").get(pk=pk)``: the same objects; ``Invoice.DoesNotExist`` when there is
    no such invoice, ``ValueError``/``TypeError`` for an id that is not a number (as the ORM)."""
    number = Invoice._meta.pk.to_python(pk)
    if number is None:
        raise Invoice.DoesNotExist
    sql, models = _invoice_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [Invoice._meta.pk.get_db_prep_value(number, connection)])
        row = cursor.fetchone()
    if row is None:
        raise Invoice.DoesNotExist
    invoice, patient, issued_by, voided_by, coverage, payer = split(row, models)
    invoice.patient = patient
    invoice.issued_by = issued_by
    invoice.voided_by = voided_by
    if coverage is not None:
        coverage.payer = payer
    invoice.coverage = coverage
    return invoice
