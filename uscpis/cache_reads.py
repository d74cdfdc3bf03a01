"""``cache.get_many`` for the reads every signed-in request makes (the session and its user).

Django's ``RedisCache.get_many`` goes through redis-py's full command machinery: a new
``redis.Redis`` client per call, ``execute_command`` with its retry wrapper and closures,
the observability hooks, the generic command packer and the response callbacks. For one
``MGET`` of a few short keys that machinery costs several times the round trip's own CPU.

``get_many`` here sends the same ``MGET`` on a connection taken from the same pool (so the
pool's readiness check, reconnection and fork safety are redis-py's own), reads the reply
with the connection's own ``read_response`` (which disconnects on any error, as
``execute_command`` does) and decodes values with the cache's serializer (Django's own
skips its ``int()`` attempt for pickled values, ``_loads``): the same dict as
``cache.get_many``. Errors propagate as from ``cache.get_many``.

It is used only where that is exactly what redis-py would do: Django's ``RedisCache`` with
one server, its default client class, and a pool whose connections retry nothing (the
default when the pool is built from the cache's URL, as Django does); with retries
configured redis-py would resend on a connection error, so anything else is handed to
``cache.get_many`` unchanged.

``execute_many`` does the same for a few commands sent together (the API throttle's INCR,
EXPIRE and GET), as a non-transactional redis-py pipeline: one write, every reply read in
order, the first error reply raised after all were read.
"""

from __future__ import annotations

import pickle

from django.core.cache.backends.redis import RedisCache, RedisCacheClient, RedisSerializer
from django.utils.connection import ConnectionProxy
from redis.exceptions import ResponseError

from uscpis import cache_mirror


def _pack(*args: bytes | str | int) -> bytes:
    """The RESP encoding of one command (as ``Connection.pack_command`` for these types)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


def pack_mget(keys: list[str]) -> bytes:
    """The RESP encoding of ``MGET *keys``."""
    return _pack(b"MGET", *keys)


def _plain_pool(backend):
    """The redis-py pool ``backend`` reads from, when the fast path is redis-py's behaviour."""
    if type(backend) not in (RedisCache, cache_mirror.RedisCache):
        return None
    client = backend._cache
    if type(client) is not RedisCacheClient or len(client._servers) != 1:
        return None
    if client._client is not client._lib.Redis:
        return None
    return client._get_connection_pool(False)


def get_many(cache, keys: list[str], *, mirrored: bool = False) -> dict:
    """``cache.get_many(keys)``: one ``MGET`` on a pooled Redis connection when possible.

    ``mirrored``: answered from this process's mirror of these keys when it can
    (``uscpis.cache_mirror``: kept current by Redis's invalidation messages)."""
    backend = _backend(cache)
    pool = _plain_pool(backend) if keys else None  # redis-py answers [] to an empty MGET
    if pool is None:
        return cache.get_many(keys)
    # ``make_key`` without ``validate_key``: that check only warns about keys memcached
    # would refuse (walking each key character by character in Python); Redis takes any.
    key_map = {backend.make_key(key): key for key in keys}
    full_keys = list(key_map)
    mirror = cache_mirror.mirror_of(backend, pool) if mirrored else None
    values = mirror.get_many(full_keys) if mirror is not None else None
    if values is None:
        values = _mget(pool, full_keys)
    if values is None:
        return cache.get_many(keys)
    loads = _loads(backend._cache._serializer)
    return {
        key_map[full]: loads(value)
        for full, value in zip(full_keys, values, strict=False)
        if value is not None
    }


_PICKLED = 0x80  # the first byte of every pickle of protocol 2 and up (its PROTO opcode)


def _loads(serializer):
    """``serializer.loads``; for Django's own serializer, the same function without its
    failed ``int()`` (and the exception raised and caught) on every pickled value.

    Django's ``RedisSerializer`` stores an ``int`` as its digits and anything else pickled
    (protocol ``HIGHEST_PROTOCOL`` unless configured): ``loads`` tries ``int(data)`` and
    unpickles when that raises ``ValueError``. Data starting with the byte 0x80 can never
    be read by ``int()``, so it goes straight to ``pickle.loads``; anything else (digits,
    or a pickle of protocol 0 or 1) is handed to the serializer's ``loads`` as before."""
    if type(serializer) is not RedisSerializer:
        return serializer.loads
    plain = serializer.loads

    def loads(data: bytes):
        return pickle.loads(data) if data and data[0] == _PICKLED else plain(data)  # noqa: S301 (what Django's serializer unpickles)

    return loads


def _mget(pool, full_keys: list[str]) -> list | None:
    """``MGET`` on a pooled connection (``None`` when its connections retry)."""
    connection = pool.get_connection()
    try:
        if connection.retry.get_retries():  # redis-py would resend after an error
            return None
        connection.send_packed_command([pack_mget(full_keys)])
        return connection.read_response()
    finally:
        pool.release(connection)


def _backend(cache):
    return cache._connections[cache._alias] if isinstance(cache, ConnectionProxy) else cache


def execute_many(cache, commands: list[tuple]) -> list | None:
    """Each command's raw reply (keys already made by the caller), the commands sent in one
    write on a pooled connection and the replies read in order, as
    ``pipeline(transaction=False).execute()`` answers; ``None`` when ``cache`` is not a plain
    Redis cache whose connections retry nothing (then the caller asks redis-py)."""
    pool = _plain_pool(_backend(cache)) if commands else None
    if pool is None:
        return None
    connection = pool.get_connection()
    try:
        if connection.retry.get_retries():
            return None
        connection.send_packed_command([b"".join(_pack(*command) for command in commands)])
        replies, first_error = [], None
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as error:  # the reply was read: the connection stays in step
                first_error = first_error or error
                replies.append(error)
    finally:
        pool.release(connection)
    if first_error is not None:
        raise first_error
    return replies
