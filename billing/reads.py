"""The invoice a billing page opens, with the people and payer it shows, from SQL compiled
once per process (``uscpis.compiled``): building ``select_related`` over six tables cost more
Python than PostgreSQL spent answering it. ``tests/billing/test_billing_rows.py`` checks it
field for field against the ORM query it stands in for."""

from __future__ import annotations

from billing.models import Invoice
from uscpis.compiled import CompiledQuery, split
from uscpis.prepared import prepared_sql

__all__ = [
    "invoice_with_parties",
    "invoice_with_parties_from",
    "invoice_with_parties_statement",
    "split",
]  # split: billing.screens reads its rows with it

_INVOICE_WITH_PARTIES = CompiledQuery(
    Invoice,
    lambda pk: (
        Invoice.objects.select_related("patient", "issued_by", "voided_by", "coverage__payer")
        .filter(pk=pk)
        .order_by()
    ),
)


def invoice_with_parties(pk) -> Invoice:
    """``Invoice.objects.select_related("patient", "issued_by", "voided_by",
    "coverage__payer").get(pk=pk)``: the same objects; ``Invoice.DoesNotExist`` when there is
    no such invoice (``pk=None`` included), ``ValueError``/``TypeError`` for an id that is not
    a number (the ORM's own, from the primary key's ``get_prep_value``)."""
    number = Invoice._meta.pk.get_prep_value(pk)
    if number is None:
        raise Invoice.DoesNotExist("Invoice matching query does not exist.")
    found = _INVOICE_WITH_PARTIES.all(number)
    if not found:
        raise Invoice.DoesNotExist("Invoice matching query does not exist.")
    return found[0]


def invoice_with_parties_statement(pk: int) -> tuple[str, list] | None:
    """:func:`invoice_with_parties`'s statement for ``pk`` (a whole number), for a caller
    that sends it with other statements (then :func:`invoice_with_parties_from` its rows);
    ``None`` when it must go through :func:`invoice_with_parties`. Sent through
    ``fetch_together``, it is a statement prepared on the connection (``uscpis.prepared``):
    planning this six-table join cost PostgreSQL several times what running it does."""
    statement = _INVOICE_WITH_PARTIES.statement(pk)
    return None if statement is None else (prepared_sql(statement[0]), statement[1])


def invoice_with_parties_from(rows, pk: int) -> Invoice:
    """The invoice in the rows :func:`invoice_with_parties_statement` ``(pk)`` answered;
    ``Invoice.DoesNotExist`` when there are none."""
    found = _INVOICE_WITH_PARTIES.objects(rows, pk)
    if not found:
        raise Invoice.DoesNotExist("Invoice matching query does not exist.")
    return found[0]
