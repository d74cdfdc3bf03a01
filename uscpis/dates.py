"""The window of dates the clinic works with.

Dates come from URLs and forms; one far outside any sane range (``9999-12-31``) used to
overflow the first ``+ timedelta`` and answer 500. Forms reject dates outside the window
with a message (``uscpis.forms.DateField``); page parameters such as ``?date=`` are clamped
into it (``clamp_day``).
"""

from __future__ import annotations

from datetime import date

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)


def clamp_day(value: date) -> date:
    return min(max(value, EARLIEST), LATEST)


def parse_day(value: str | None, default: date) -> date:
    """``YYYY-MM-DD`` from a query string, clamped to the window; ``default`` when absent or
    malformed."""
    if not value:
        return default
    try:
        return clamp_day(date.fromisoformat(value.strip()[:10]))
    except ValueError:
        return default
