"""Shared schedule reads (the clinic calendar's HTML, staff free-slot lists), kept in the
cache under version tokens and invalidated by the writes that change them.

A cached value is stored with the version tokens it was built from: one per clinic date it
shows (bumped by any appointment or waitlist hold starting that date) and one for the whole
schedule (providers, working hours, leave, appointment types, patient and provider names).
Writes bump the tokens they affect when their transaction commits (``appointments.receivers``
connects the model signals, so services, the admin and the API are all covered). A reader
fetches the tokens and the value in one round trip and uses the value only if every token
is unchanged; otherwise it builds the value and stores it under the tokens it read first.

Why this is never stale, and what an unreachable cache does: ``uscpis.versioned_cache``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from django.conf import settings

from appointments import conf
from uscpis.versioned_cache import VersionedCache

T = TypeVar("T")
SCHEDULE = "schedule"  # the token every cached value depends on
VALUES = VersionedCache(
    "appointments",
    base=Path(__file__).resolve().parent,
    # What cached values are made from: a deploy that changes any of these starts afresh.
    sources=(
        "api.py",
        "forms.py",
        "picker.py",
        "schedule_cache.py",
        "selectors.py",
        "slots.py",
        "templatetags/calendar_cells.py",
        "templates/appointments/_calendar_parts.html",
        "templates/appointments/_picker_fields.html",
        "templates/appointments/_slot_days.html",
        # Shared form rendering the picker form's cached HTML is drawn with.
        "../accounts/templatetags/uscpis.py",
        "../templates/_field.html",
        "../uscpis/forms.py",
    ),
    timeout=60,  # seconds: a lost replacement is stale a minute at most
)


def _day_name(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(conf.clinic_tz()).date()
    return value.isoformat()


def days_changed(*moments: date | datetime | None) -> None:
    """Values showing the clinic dates of ``moments`` are out of date once the current
    transaction commits (at once outside a transaction)."""
    VALUES.changed({_day_name(m) for m in moments if m is not None})


def schedule_changed() -> None:
    """Every cached value is out of date once the current transaction commits."""
    VALUES.changed({SCHEDULE})


def cached(
    key: str,
    days: Iterable[date],
    build: Callable[[], T],
    *,
    still_valid: Callable[[T], bool] | None = None,
) -> T:
    """``build()``, shared through the cache while nothing it depends on has changed.

    ``key`` must hold everything the value depends on besides the schedule of ``days``
    (view, filters, today's date...), and the value must be the same for every user shown it.
    ``still_valid(value)``, if given, may refuse a stored value that time has made stale
    (a waitlist hold that lapsed with no write); it is then built again.
    """
    return VALUES.get_or_build(
        f"{settings.TIME_ZONE}:{settings.LANGUAGE_CODE}:{key}",
        [SCHEDULE, *(_day_name(d) for d in days)],
        build,
        still_valid=still_valid,
    )
