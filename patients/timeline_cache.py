"""The chart's visit timeline pages, kept in the cache under version tokens and invalidated
by the writes that change them.

A page (its ``<li>`` rows as HTML, and whether older visits follow) is the same for every
clinician who may see the timeline, and it changes only when one of the patient's visits,
diagnoses, vital signs or prescriptions does, or a provider's name or an ICD-10 title (shown
on every chart). Each value is stored with two version tokens: the patient's (replaced when
any of their visit rows is saved or deleted) and one shared by every chart (names and
titles). ``patients.receivers`` replaces them from model signals when the writing
transaction commits, so services, the admin, the API and data fixes are all covered; the
two ``QuerySet.update`` calls in ``patients.services.visits`` (signing, moving the primary
diagnosis) replace the patient's token themselves.

Why this is never stale: a reader reads the tokens *before* it reads the database, and a
writer replaces them *after* its commit, so a page built from data older than a write was
stored under a token older than that write's and is not served once it lands. Tokens are
random, so one evicted and created again never matches a value stored under its predecessor.
The TTL bounds memory and how long a page could outlive a replacement lost to a crash between
commit and replacement, or to the cache being unreachable then; an unreachable cache is never
fatal (the page is built). The PHI read audit is written by the view on every request,
whether the page came from the cache or not.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from functools import cache as memoize
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.translation import get_language

logger = logging.getLogger(__name__)

TIMEOUT = 60  # seconds: a lost replacement (see the module docstring) is stale a minute at most
EVERY_CHART = "all"
_APP = Path(__file__).resolve().parent
# What a cached page is made from: a deploy that changes any of these starts afresh.
_SOURCES = ("timeline.py", "timeline_cache.py", "templatetags/chart_rows.py")


@memoize
def _code_version() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_APP / name).read_bytes())
    return digest.hexdigest()[:12]


def _token_key(name: str) -> str:
    # Tests get a fresh namespace each (tests/conftest.py), so values never leak between them.
    namespace = getattr(settings, "CLINIC_FIGURE_NAMESPACE", "")
    return f"patients:tl:v:{namespace}:{_code_version()}:{name}"


def _replace(names: set[str]) -> None:
    try:
        cache.set_many({_token_key(n): secrets.token_hex(8) for n in names}, timeout=None)
    except Exception:  # the write has committed; stale pages expire with TIMEOUT
        logger.exception("could not replace timeline cache versions %s", sorted(names))


def patients_changed(*patient_ids: int | None) -> None:
    """These patients' cached timeline pages are out of date once the current transaction
    commits (at once outside a transaction)."""
    names = {f"p{pk}" for pk in patient_ids if pk is not None}
    if names:
        transaction.on_commit(lambda: _replace(names))


def every_chart_changed() -> None:
    """Every cached timeline page is out of date once the current transaction commits."""
    transaction.on_commit(lambda: _replace({EVERY_CHART}))


def cached_page(
    patient_id: int, number: int, build: Callable[[], tuple[str, bool]]
) -> tuple[str, bool]:
    """``build()`` (a page's HTML and whether older visits follow), shared through the cache
    while nothing it shows has changed."""
    token_keys = [_token_key(EVERY_CHART), _token_key(f"p{patient_id}")]
    value_key = (
        f"patients:tl:c:{getattr(settings, 'CLINIC_FIGURE_NAMESPACE', '')}:{_code_version()}:"
        f"{patient_id}:{number}:{get_language()}:{timezone.get_current_timezone_name()}:"
        f"{get_script_prefix()}"
    )
    try:
        found = cache.get_many([value_key, *token_keys])
        tokens = [found.get(k) for k in token_keys]
        stored = found.get(value_key)
        if stored is not None and None not in tokens and stored[0] == tokens:
            return stored[1]
        if None in tokens:
            for key, token in zip(token_keys, tokens, strict=True):
                if token is None:
                    cache.add(key, secrets.token_hex(8), timeout=None)
            found = cache.get_many(token_keys)
            tokens = [found.get(k) for k in token_keys]
    except Exception:
        logger.warning("timeline cache unreachable; building page %s", number, exc_info=True)
        return build()
    value = build()  # read after the tokens: see the module docstring
    if None not in tokens:
        try:
            cache.set(value_key, (tokens, value), timeout=TIMEOUT)
        except Exception:
            logger.warning("timeline cache unreachable; not storing a page", exc_info=True)
    return value
