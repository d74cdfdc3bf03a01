"""The window of dates the clinic works with.

Dates come from URLs and forms; one far outside any sane range (``9999-12-31``) used to
overflow the first ``+ timedelta`` and answer 500. Forms reject dates outside the window
with a message (``uscpis.forms.DateField``); page parameters such as ``?date=`` are clamped
into it (``clamp_day``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.translation import get_language
from django.utils.translation import gettext as _

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


@lru_cache(maxsize=16)
def label_words(language: str | None) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
    """Weekday and month abbreviations and AM/PM as ``django.utils.dateformat`` writes them
    (``D``, ``M``, ``A``) in ``language``, translated once: weekdays by ``weekday()``,
    months by number (index 0 is empty)."""
    return (
        tuple(str(WEEKDAYS_ABBR[i]) for i in range(7)),
        ("",) + tuple(str(MONTHS_3[i]).title() for i in range(1, 13)),
        _("AM"),
        _("PM"),
    )


def when_label(moment) -> str:
    """``formats.date_format(moment, "D j M Y, g:i A")`` (``Tue 3 Mar 2026, 9:05 AM``) without
    Django's format-string parser, for rows rendered by the hundred: the same (translated)
    day and month names and AM/PM as ``django.utils.dateformat``. ``moment`` is already in
    the zone to show (``timezone.localtime``)."""
    return when_labeller()(moment)


def when_labeller() -> Callable[[datetime], str]:
    """``when_label`` in the active language, its words looked up once for many moments."""
    days, months, am, pm = label_words(get_language())

    def label(moment: datetime) -> str:
        hour = moment.hour % 12 or 12
        return (
            f"{days[moment.weekday()]} {moment.day} {months[moment.month]} "
            f"{moment.year:04d}, {hour}:{moment.minute:02d} {pm if moment.hour > 11 else am}"
        )

    return label
