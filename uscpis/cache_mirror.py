"""A per-process mirror of the cache entries every signed-in request reads (its session,
its user, an API call's token), kept current by Redis itself.

Every signed-in page reads the same four cache entries: the session and the user's three
(``accounts.sessions``, ``accounts.backends``); an API call reads its token's three
(``accounts.token_cache``) and its user's. They change rarely, but a change must take
effect on the next request: signing out, a password change, a deactivated account, a
revoked token. Read from Redis, they cost a round trip on every request (served, about
0.2 ms of a worker's CPU: the send, the wait, the wake-up and the read), which is a fifth
of an empty page.

Redis can tell a client when a key it read has changed (`server-assisted client-side
caching <https://redis.io/docs/latest/develop/reference/client-side-caching/>`_, Redis 6
and later). Each process opens one connection of its own, speaking RESP3, with
``CLIENT TRACKING ON``: Redis remembers every key read on it and, the next time one of them
is written, deleted, expired or evicted (or the database flushed), pushes an
``invalidate`` message naming it down the same connection.

``get_many`` first takes every message waiting on that connection (a ``poll`` with no
wait, no round trip) and forgets the keys they name; what is left in the mirror is what
Redis would answer now. Keys it does not hold (or holds for longer than ``max_age``) are
read again, all together, with one ``MGET``, and remembered. This is what redis-py's own
client-side cache does (``CacheProxyConnection``), kept on the direct read path of
``uscpis.cache_reads`` instead of redis-py's full command machinery.

Why a change is never missed:

* A value is remembered only after it was read on the tracked connection, so Redis tracks
  it from then on; a later change pushes a message, taken before the next answer.
* Replies and messages come in order on the one connection: a message that arrives before
  an ``MGET``'s reply is about a change the reply already shows; one that arrives after it
  is taken before the next answer.
* Writes made by this process (``RedisCache`` below, the backend the settings name) are
  forgotten in the mirror at once, without waiting for Redis's message, and an ``MGET``
  in flight during such a write is not remembered.
* Writes made by another process: Redis queues the message while it executes the write
  and sends it in the same pass of its event loop as the write's reply, so by the time
  the writing process's page has answered, the message is waiting on this process's
  socket, to be taken before the next answer.
* Any error on the connection (Redis restarted, the connection closed, an unexpected
  reply), or a new process after a fork, drops the whole mirror and the connection; until
  it is open again the normal read answers (``uscpis.cache_reads``), so an unreachable
  Redis behaves exactly as before.
* ``max_age`` bounds what nothing above covers: Redis deletes an expired key when it is
  next read or when its expiry cycle finds it (a mirrored copy is not a read), and a
  connection that died without either side hearing of it.

Settings: ``CACHE_MIRROR_MAX_AGE`` (seconds; ``0`` turns the mirror off). The mirror is
used only where ``uscpis.cache_reads`` may read Redis directly (one server, Django's client,
connections that retry nothing) and only where the connection speaks RESP3 (redis-py's
default; Redis 6 and later).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from uscpis import cache_reads

logger = logging.getLogger(__name__)

MAX_ENTRIES = 20_000  # cleared when full: a forgotten entry costs one read
# Seconds between attempts to open the connection after a failure (a Redis that refuses
# CLIENT TRACKING logs one warning per process this often; meanwhile Redis answers reads).
RETRY_AFTER = 30.0


class Mirror:
    """The mirrored entries of one Redis server, in one process."""

    def __init__(self, pool, max_age: float):
        self.pid = os.getpid()
        self.max_age = max_age
        self._pool = pool
        self._lock = threading.Lock()
        self._connection = None
        self._entries: dict[bytes, tuple[bytes | None, float]] = {}
        self._writes = 0  # local writes seen, so an MGET in flight meanwhile is not kept
        self._failed_at: float | None = None

    # --- the connection ------------------------------------------------------------------

    def _open(self) -> bool:
        if self._connection is not None:
            return True
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER:
            return False
        pool = self._pool
        connection = pool.connection_class(**pool.connection_kwargs)
        try:
            connection.connect()
            if str(connection.protocol) != "3":
                raise ValueError("the connection does not speak RESP3")
            connection.send_command("CLIENT", "TRACKING", "ON")
            if connection.read_response() not in (b"OK", "OK"):
                raise ValueError("CLIENT TRACKING was refused")
            connection._parser.set_invalidation_push_handler(self._invalidated)
        except Exception:
            logger.warning("Cache mirror unavailable; reading from Redis", exc_info=True)
            connection.disconnect()
            self._failed_at = now
            return False
        self._connection, self._failed_at = connection, None
        return True

    def close(self) -> None:
        """Forget everything and close the connection (opened again when next needed)."""
        self.forget_all()
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.disconnect()
            except Exception:  # noqa: S110 (closing a connection that is already broken)
                pass

    def _invalidated(self, message) -> bool:
        """Redis's ``invalidate`` push: the keys it names changed (``None``: all of them)."""
        keys = message[1]
        if keys is None:  # FLUSHDB / FLUSHALL
            self._entries.clear()
        else:
            entries = self._entries
            for key in keys:
                entries.pop(key, None)
        return True

    # --- reads ---------------------------------------------------------------------------

    def _take_messages(self) -> None:
        """Forget every key Redis has said changed since the last call (no round trip)."""
        connection = self._connection
        while connection.can_read(timeout=0):
            if connection.read_response(push_request=True) is not True:
                raise ValueError("a reply came that nothing asked for")

    def get_many(self, full_keys: list[str]) -> list | None:
        """The raw values of ``full_keys`` (``None`` for a missing key), as ``MGET`` would
        answer now; ``None`` when the mirror cannot answer (the caller reads Redis)."""
        if not self._lock.acquire(blocking=False):  # another thread is using it
            return None
        try:
            if not self._open():
                return None
            try:
                return self._get_many(full_keys)
            except Exception:
                logger.warning("Cache mirror dropped; reading from Redis", exc_info=True)
                self.close()
                return None
        finally:
            self._lock.release()

    def _get_many(self, full_keys: list[str]) -> list:
        self._take_messages()
        now = time.monotonic()
        entries = self._entries
        names = [key.encode() for key in full_keys]
        values = []
        for name in names:
            entry = entries.get(name)
            if entry is None or now - entry[1] > self.max_age:
                break
            values.append(entry[0])
        else:
            return values
        writes = self._writes
        self._connection.send_packed_command([cache_reads.pack_mget(full_keys)])
        values = self._connection.read_response()  # messages before it are taken on the way
        if self._writes == writes:
            if len(entries) + len(names) > MAX_ENTRIES:
                entries.clear()
            for name, value in zip(names, values, strict=True):
                entries[name] = (value, now)
        return values

    # --- local writes --------------------------------------------------------------------

    def forget(self, full_keys) -> None:
        """This process wrote these keys: no copy of them may be served from now on."""
        self._writes += 1
        entries = self._entries
        for key in full_keys:
            entries.pop(key.encode() if isinstance(key, str) else key, None)

    def forget_all(self) -> None:
        self._writes += 1
        self._entries.clear()


_MIRRORS: dict[str, Mirror] = {}


def mirror_of(backend, pool) -> Mirror | None:
    """This process's mirror of ``backend``'s server (``pool`` is the backend's own); only
    for the backend below, whose writes in this process reach the mirror at once."""
    max_age = getattr(settings, "CACHE_MIRROR_MAX_AGE", 0)
    if not max_age or type(backend) is not RedisCache:
        return None
    location = backend._servers[0]
    mirror = _MIRRORS.get(location)
    if mirror is None or mirror.pid != os.getpid() or mirror.max_age != max_age:
        if mirror is not None and mirror.pid == os.getpid():
            mirror.close()  # a new max_age: its connection is not needed any more
        mirror = _MIRRORS[location] = Mirror(pool, max_age)
    return mirror


class RedisCache(DjangoRedisCache):
    """Django's ``RedisCache``; every write also forgets the keys it wrote in this
    process's mirror, at once (after the write, and even when the write fails)."""

    def _forget(self, keys, version=None) -> None:
        mirror = _MIRRORS.get(self._servers[0])
        if mirror is not None:
            mirror.forget([self.make_key(key, version=version) for key in keys])

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        finally:
            self._forget([key], version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        finally:
            self._forget([key], version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        finally:
            self._forget([key], version)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        finally:
            self._forget([key], version)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        finally:
            self._forget([key], version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        finally:
            self._forget(list(data), version)

    def delete_many(self, keys, version=None):
        keys = list(keys)
        try:
            super().delete_many(keys, version)
        finally:
            self._forget(keys, version)

    def clear(self):
        try:
            return super().clear()
        finally:
            mirror = _MIRRORS.get(self._servers[0])
            if mirror is not None:
                mirror.forget_all()
