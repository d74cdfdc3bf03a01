"""The rollup generation: a counter in the shared cache, bumped whenever a write that the
analytics pages read commits (a rollup refresh or rebuild, a syndrome recount, the signal
check, the forecasts). The rendered-page cache (``analytics/views/_common.py``) puts it in
its keys, so the first request after such a commit renders afresh.

The counter starts from the clock (nanoseconds) whenever it is missing (first use, or the
cache was flushed), so a restarted counter never repeats a generation an old entry was
stored under. A cache that is down only means the pages render every time (the page cache
is down too); ``ANALYTICS_CACHE_NAMESPACE`` (set per test) keeps tests apart.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction


def _key() -> str:
    return f"analytics:{getattr(settings, 'ANALYTICS_CACHE_NAMESPACE', '')}:rollup-generation"


def rollup_generation() -> int:
    key = _key()
    generation = cache.get(key)
    if generation is None:
        cache.add(key, time.time_ns(), timeout=None)
        generation = cache.get(key, 0)
    return generation


def rollup_generation_bump() -> None:
    """Move to a new generation now (call after the write has committed)."""
    key = _key()
    try:
        try:
            cache.incr(key)
        except ValueError:  # missing: start again from the clock
            cache.add(key, time.time_ns(), timeout=None)
    except Exception:  # noqa: S110 - cache down: so is the page cache that reads this
        pass


def rollup_generation_bump_on_commit() -> None:
    """Move to a new generation once the current transaction commits (at once outside one)."""
    transaction.on_commit(rollup_generation_bump)
