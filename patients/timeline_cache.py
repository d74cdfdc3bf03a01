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

Why this is never stale, and what an unreachable cache does: ``uscpis.versioned_cache``.
The PHI read audit is written by the view on every request, whether the page came from the
cache or not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.translation import get_language

from uscpis.versioned_cache import VersionedCache

EVERY_CHART = "all"
PAGES = VersionedCache(
    "patients:tl",
    base=Path(__file__).resolve().parent,
    # What a cached page is made from: a deploy that changes any of these starts afresh.
    sources=("timeline.py", "timeline_cache.py", "templatetags/chart_rows.py"),
    timeout=60,  # seconds: a lost replacement is stale a minute at most
)


def patients_changed(*patient_ids: int | None) -> None:
    """These patients' cached timeline pages are out of date once the current transaction
    commits (at once outside a transaction)."""
    PAGES.changed({f"p{pk}" for pk in patient_ids if pk is not None})


def every_chart_changed() -> None:
    """Every cached timeline page is out of date once the current transaction commits."""
    PAGES.changed({EVERY_CHART})


def cached_page(
    patient_id: int, number: int, build: Callable[[], tuple[str, bool]]
) -> tuple[str, bool]:
    """``build()`` (a page's HTML and whether older visits follow), shared through the cache
    while nothing it shows has changed."""
    key = (
        f"{patient_id}:{number}:{get_language()}:{timezone.get_current_timezone_name()}:"
        f"{get_script_prefix()}"
    )
    return PAGES.get_or_build(key, [EVERY_CHART, f"p{patient_id}"], build)
