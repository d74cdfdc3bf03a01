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
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger("django.contrib.sessions")


class SessionStore(CachedDBStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            logger.warning(
                "Session cache unavailable; reading the session from the database", exc_info=True
            )
            data = None
            cache_ok = False
        else:
            cache_ok = True
        if data is not None:
            return data
        session = self._get_session_from_db()
        if not session:
            return {}
        data = self.decode(session.session_data)
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
