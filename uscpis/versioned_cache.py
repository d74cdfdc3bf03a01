"""Values kept in the cache under version tokens and invalidated by the writes that change
them (the clinic calendar and free slots: ``appointments.schedule_cache``; the chart's
timeline pages: ``patients.timeline_cache``).

A value is stored with the version tokens it was built under. Writers replace the tokens
they affect when their transaction commits (the apps' ``receivers`` connect model signals,
so services, the admin, the API and data fixes are all covered). A reader fetches the tokens
and the value in one round trip and uses the value only if every token is unchanged;
otherwise it builds the value and stores it under the tokens it read first.

Why this is never stale: a reader reads the tokens *before* it reads the database, and a
writer replaces them *after* its commit, so a value built from data older than a write was
stored under a token older than that write's and is not served once the replacement lands.
Tokens are random (not counters), so a token evicted and created again never matches a
value stored under its predecessor. The TTL bounds memory, and how long a value could
outlive a replacement lost to a crash between commit and replacement or to the cache being
unreachable then. An unreachable cache is never fatal: values are then built.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")


class VersionedCache:
    """One family of cached values: ``name`` prefixes its keys; ``sources`` (paths under
    ``base``) are what its values are made from, so a deploy that changes any of them
    starts afresh; ``timeout`` (seconds) bounds how long a lost replacement is stale."""

    def __init__(self, name: str, *, base: Path, sources: Iterable[str], timeout: int = 60):
        self.name = name
        self.base = base
        self.sources = tuple(sources)
        self.timeout = timeout

    @cached_property
    def code_version(self) -> str:
        digest = hashlib.sha256()
        for source in self.sources:
            digest.update((self.base / source).read_bytes())
        return digest.hexdigest()[:12]

    def _namespace(self) -> str:
        # Tests get a fresh namespace each (tests/conftest.py), so values never leak.
        return f"{getattr(settings, 'CLINIC_FIGURE_NAMESPACE', '')}:{self.code_version}"

    def token_key(self, token: str) -> str:
        return f"{self.name}:v:{self._namespace()}:{token}"

    def replace(self, tokens: set[str]) -> None:
        """Replace these tokens now (values stored under them are no longer served)."""
        try:
            cache.set_many({self.token_key(t): secrets.token_hex(8) for t in tokens}, None)
        except Exception:  # the write has committed; stale values expire with the TTL
            logger.exception("could not replace %s cache versions %s", self.name, sorted(tokens))

    def changed(self, tokens: set[str]) -> None:
        """Values under these tokens are out of date once the current transaction commits
        (at once outside a transaction)."""
        if tokens:
            transaction.on_commit(lambda: self.replace(tokens))

    def get_or_build(
        self,
        key: str,
        tokens: Iterable[str],
        build: Callable[[], T],
        *,
        still_valid: Callable[[T], bool] | None = None,
    ) -> T:
        """``build()``, shared through the cache while none of ``tokens`` is replaced.

        ``key`` must hold everything else the value depends on (view, filters, language,
        today's date...), and the value must be the same for everyone shown it.
        ``still_valid(value)``, if given, may refuse a stored value that time alone has made
        stale; it is then built again."""
        try:
            stored, current = self.lookup(key, tokens)
            if stored is not None and (still_valid is None or still_valid(stored[0])):
                return stored[0]
        except Exception:
            logger.warning("%s cache unreachable; building %s", self.name, key, exc_info=True)
            return build()
        value = build()  # read after the tokens: see the module docstring
        self.store(key, current, value)
        return value

    def _value_key(self, key: str) -> str:
        return f"{self.name}:c:{self._namespace()}:{key}"

    def lookup(self, key: str, tokens: Iterable[str]) -> tuple[tuple | None, list | None]:
        """The value stored under ``key`` while none of ``tokens`` is replaced (as a 1-tuple:
        a stored value may be None; ``None`` when there is none), and the tokens' current
        values, to ``store`` a value built from what is read *after* this call. Tokens
        missing from the cache are created. Raises what the cache raises."""
        token_keys = [self.token_key(t) for t in tokens]
        value_key = self._value_key(key)
        found = cache.get_many([value_key, *token_keys])
        current = [found.get(k) for k in token_keys]
        stored = found.get(value_key)
        if stored is not None and None not in current and stored[0] == current:
            return (stored[1],), current
        if None in current:
            for token_key, token in zip(token_keys, current, strict=True):
                if token is None:
                    cache.add(token_key, secrets.token_hex(8), timeout=None)
            found = cache.get_many(token_keys)
            current = [found.get(k) for k in token_keys]
        return None, current

    def store(self, key: str, current: list | None, value) -> None:
        """Keep ``value`` under ``key`` and the tokens ``lookup`` read before it was built
        (nothing is kept when they could not be read)."""
        if current is None or None in current:
            return
        try:
            cache.set(self._value_key(key), (current, value), timeout=self.timeout)
        except Exception:
            logger.warning("%s cache unreachable; not storing %s", self.name, key, exc_info=True)
