"""CSV downloads that are safe to open in a spreadsheet.

Every text cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is prefixed with an apostrophe, so a patient's
name or a ledger note like ``=HYPERLINK(...)`` arrives as text (OWASP "CSV injection").
Numbers stay numbers: ints, decimals and strings that are plainly a number (``-5``,
``+2.50``) are written as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from django.http import StreamingHttpResponse

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_cell(value):
    """``value`` as it may go into a CSV cell."""
    formula = (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    )
    return "'" + value if formula else value


def _safe_row(row: Iterable) -> list:
    return [csv_cell(v) for v in row]


class _Echo:
    def write(self, value):
        return value


def csv_download(
    filename: str, header: list[str], rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    """A streamed CSV attachment: ``rows`` may be a generator over a large queryset."""
    writer = csv.writer(_Echo())

    def stream():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(_safe_row(row))

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    """The whole CSV as one string (small exports built in memory)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(_safe_row(row))
    return out.getvalue()
