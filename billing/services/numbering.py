"""Gap-free document numbers (invoices, official receipts, credit notes, claims).

``next_number`` must run inside the transaction that saves the document: it locks the
series' counter row until that transaction ends, so two issuers queue, a rolled-back issue
gives its number back, and no number is skipped or used twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import NumberSeries

WIDTH = 6


def format_number(prefix: str, year: int, value: int) -> str:
    return f"{prefix}-{year}-{value:0{WIDTH}d}"


def next_number(kind: str, *, year: int | None = None) -> str:
    """The next number of ``kind`` ("invoice", "receipt", "credit_note", "claim") this year."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number must run inside the issuing transaction")
    prefix = settings.BILLING_SERIES[kind]
    year = year or timezone.localdate().year
    row = NumberSeries.objects.select_for_update().filter(series=prefix, year=year).first()
    if row is None:
        try:
            with transaction.atomic():
                NumberSeries.objects.create(series=prefix, year=year, last_value=0)
        except IntegrityError:
            pass  # another issuer created it first; lock theirs
        row = NumberSeries.objects.select_for_update().get(series=prefix, year=year)
    row.last_value += 1
    row.save(update_fields=["last_value"])
    return format_number(prefix, year, row.last_value)
