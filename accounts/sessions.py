"""Session engine: Django's ``cached_db`` that keeps working while the cache is down.

Sessions are read from the cache (Redis) and written through to the database. Django's
``cached_db`` already survives a cache error when saving, but not when loading, checking or
deleting a session, so with Redis unreachable every signed-in page (and signing out) was a
500. Here each cache operation that fails is logged and skipped: the database, which always
holds the current copy, answers instead.

While the cache is unreachable nothing can be removed from it, so a session deleted then
(signed out, or rotated at sign-in) keeps its cached copy until that expires if the same
Redis later comes back with its old data; plain ``cached_db`` has the same property for
saves, and the session cookie itself is gone from the browser that signed out.

Every signed-in request reads the session, then the user it names (``accounts.backends``,
three cache keys): two round trips, one after the other. Each process remembers which user
id it last found in each session, so the next request fetches the session and that user's
cache keys in one ``get_many``. The user entries are only used when the session still names
that user (``take_user_entries``, called by ``cached_user`` while Django reads the
session's user); a new session, or one that changed hands, costs the second round trip once.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core.cache import DEFAULT_CACHE_ALIAS

from accounts.backends import user_cache_keys
from uscpis import cache_reads

logger = logging.getLogger("django.contrib.sessions")

# hash(session key) -> the user id last found in that session, in this process. Only a
# guess of what to fetch with the session: the session itself decides whose user is read.
_USER_OF: dict[int, str] = {}
_USER_OF_MAX = 20_000  # cleared when full: a forgotten guess costs one extra round trip


def _remember(session_key: str, data: dict) -> None:
    user_id = data.get(SESSION_KEY)
    if user_id is None:
        return
    if len(_USER_OF) >= _USER_OF_MAX:
        _USER_OF.clear()
    _USER_OF[hash(session_key)] = user_id


class SessionStore(CachedDBStore):
    _user_keys: tuple[str, str, str] | None = None
    _user_entries: dict | None = None

    def _read_cache(self):
        """The cached session (``None`` when not cached), and with it the entries of the user
        this session named last time (kept for ``take_user_entries``)."""
        key = self.cache_key
        guess = _USER_OF.get(hash(self.session_key))
        user_keys = (
            user_cache_keys(guess)
            if guess is not None and settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS
            else None
        )
        if user_keys is None:
            return self._cache.get(key)
        found = cache_reads.get_many(self._cache, [key, *user_keys], mirrored=True)
        data = found.pop(key, None)
        if data is not None and data.get(SESSION_KEY) == guess:
            self._user_keys, self._user_entries = user_keys, found
        return data

    def take_user_entries(self, keys: tuple[str, str, str]) -> dict | None:
        """The user cache entries read with the session when they are ``keys``' (once)."""
        if self._user_keys != keys:
            return None
        entries = self._user_entries
        self._user_keys = self._user_entries = None
        return entries

    def load(self):
        self._user_keys = self._user_entries = None
        try:
            data = self._read_cache()
        except Exception:
            logger.warning(
                "Session cache unavailable; reading the session from the database", exc_info=True
            )
            data = None
            cache_ok = False
        else:
            cache_ok = True
        if data is not None:
            _remember(self.session_key, data)
            return data
        session = self._get_session_from_db()
        if not session:
            return {}
        data = self.decode(session.session_data)
        _remember(self.session_key, data)
        if cache_ok:
            try:
                self._cache.set(
                    self.cache_key, data, self.get_expiry_age(expiry=session.expire_date)
                )
            except Exception:
                logger.warning("Session cache unavailable; not caching the session", exc_info=True)
        return data

    def exists(self, session_key):
        if session_key:
            try:
                if (self.cache_key_prefix + session_key) in self._cache:
                    return True
            except Exception:
                logger.warning("Session cache unavailable; checking the database", exc_info=True)
        return super(CachedDBStore, self).exists(session_key)

    def delete(self, session_key=None):
        super(CachedDBStore, self).delete(session_key)  # the database row
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:
            logger.warning(
                "Session cache unavailable; cached copy of a deleted session kept", exc_info=True
            )
