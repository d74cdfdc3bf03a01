"""Shared schedule reads (the clinic calendar's HTML, staff free-slot lists), kept in the
cache under version tokens and invalidated by the writes that change them.

A cached value is stored with the version tokens it was built from: one per clinic date it
shows (bumped by any appointment or waitlist hold starting that date) and one for the whole
schedule (providers, working hours, leave, appointment types, patient and provider names).
Writes bump the tokens they affect when their transaction commits (``appointments.receivers``
connects the model signals, so services, the admin and the API are all covered). A reader
fetches the tokens and the value in one round trip and uses the value only if every token
is unchanged; otherwise it builds the value and stores it under the tokens it read first.

Why this is never stale: the reader reads the tokens *before* it reads the database, and a
writer bumps *after* its commit. A value built from data older than a write was therefore
read under a token older than that write's bump, and no longer matches once the bump lands.
Tokens are random (not counters), so a token that is evicted and created again never
matches a value stored under its predecessor. The TTL only bounds memory, and how long a
value could outlive a bump lost to a crash between commit and bump, or to the cache being
unreachable at that moment. An unreachable cache is never fatal: values are then built.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cache as memoize
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from appointments import conf

logger = logging.getLogger(__name__)

T = TypeVar("T")
SCHEDULE = "schedule"  # the token every cached value depends on
TIMEOUT = 60  # seconds: a lost bump (see the module docstring) is stale a minute at most
_APP = Path(__file__).resolve().parent
# What cached values are made from: a deploy that changes any of these starts afresh.
_SOURCES = (
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
)


@memoize
def _code_version() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_APP / name).read_bytes())
    return digest.hexdigest()[:12]


def _namespace() -> str:
    # Tests get a fresh namespace each (tests/conftest.py), so values never leak between them.
    return (
        f"{getattr(settings, 'CLINIC_FIGURE_NAMESPACE', '')}:{_code_version()}:"
        f"{settings.TIME_ZONE}:{settings.LANGUAGE_CODE}"
    )


def _token_key(name: str) -> str:
    return f"appointments:v:{_namespace()}:{name}"


def _day_name(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(conf.clinic_tz()).date()
    return value.isoformat()


def _bump(names: set[str]) -> None:
    try:
        cache.set_many({_token_key(n): secrets.token_hex(8) for n in names}, timeout=None)
    except Exception:  # the write has committed; stale values expire with TIMEOUT
        logger.exception("could not bump schedule cache versions %s", sorted(names))


def days_changed(*moments: date | datetime | None) -> None:
    """Values showing the clinic dates of ``moments`` are out of date once the current
    transaction commits (at once outside a transaction)."""
    names = {_day_name(m) for m in moments if m is not None}
    if names:
        transaction.on_commit(lambda: _bump(names))


def schedule_changed() -> None:
    """Every cached value is out of date once the current transaction commits."""
    transaction.on_commit(lambda: _bump({SCHEDULE}))


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
    token_keys = [_token_key(SCHEDULE), *(_token_key(_day_name(d)) for d in days)]
    value_key = f"appointments:c:{_namespace()}:{key}"
    try:
        found = cache.get_many([value_key, *token_keys])
        tokens = [found.get(k) for k in token_keys]
        stored = found.get(value_key)
        if (
            stored is not None
            and stored[0] == tokens
            and None not in tokens
            and (still_valid is None or still_valid(stored[1]))
        ):
            return stored[1]
        if None in tokens:
            for k, token in zip(token_keys, tokens, strict=True):
                if token is None:
                    cache.add(k, secrets.token_hex(8), timeout=None)
            found = cache.get_many(token_keys)
            tokens = [found.get(k) for k in token_keys]
    except Exception:
        logger.warning("schedule cache unreachable; building %s", key, exc_info=True)
        return build()
    value = build()  # read after the tokens: see the module docstring
    if None not in tokens:
        try:
            cache.set(value_key, (tokens, value), timeout=TIMEOUT)
        except Exception:
            logger.warning("schedule cache unreachable; not storing %s", key, exc_info=True)
    return value
