"""``uscpis.cache_reads.get_many`` is ``cache.get_many``: the same values, the same errors,
and redis-py's own handling of pooled connections (dropped ones reconnected, none leaked)."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from django.core.cache import cache, caches
from django.test import override_settings

from uscpis import cache_reads

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache-reads-test",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.fixture
def redis_cache():
    with override_settings(CACHES=REDIS_CACHES):
        try:
            cache.set("ping", 1, 5)
        except redis.ConnectionError:
            pytest.skip("no Redis at REDIS_URL")
        yield caches["default"]


def _pool(backend):
    return backend._cache._get_connection_pool(False)


def _keys():
    tag = uuid.uuid4().hex
    return [f"{tag}:int", f"{tag}:obj", f"{tag}:missing", f"{tag}:ünïcode", f"{tag}:none"]


def test_same_values_as_cache_get_many(redis_cache):
    keys = _keys()
    redis_cache.set(keys[0], 42, 60)  # stored unpickled
    redis_cache.set(keys[1], {"a": (1, "b")}, 60)
    redis_cache.set(keys[3], ["x"], 60)
    redis_cache.set(keys[4], None, 60)  # a cached None is a value, as Django returns it
    expected = redis_cache.get_many(keys)
    assert set(expected) == {keys[0], keys[1], keys[3], keys[4]}
    assert cache_reads.get_many(redis_cache, keys) == expected
    assert cache_reads.get_many(cache, keys) == expected  # through the connection proxy
    assert cache_reads.get_many(redis_cache, []) == {}
    assert cache_reads.get_many(redis_cache, [keys[2]]) == {}


def test_command_packed_as_redis_py_packs_it(redis_cache):
    connection = _pool(redis_cache).get_connection()
    try:
        keys = ["a", "uscpis:1:django.contrib.sessions.cached_dbabc", "ünï", ""]
        assert [cache_reads.pack_mget(keys)] == [b"".join(connection.pack_command("MGET", *keys))]
    finally:
        _pool(redis_cache).release(connection)


def test_other_backends_are_asked_directly(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.set("k", "v")
    assert cache_reads.get_many(cache, ["k", "absent"]) == {"k": "v"}


def test_unreachable_redis_raises_as_cache_get_many_does():
    with override_settings(CACHES=DEAD_REDIS):
        with pytest.raises(redis.ConnectionError):
            cache.get_many(["a"])
        with pytest.raises(redis.ConnectionError):
            cache_reads.get_many(cache, ["a"])
        assert not _pool(caches["default"])._in_use_connections


def test_a_connection_dropped_by_the_server_is_reconnected(redis_cache):
    keys = _keys()
    redis_cache.set(keys[0], "value", 60)
    assert cache_reads.get_many(redis_cache, keys) == {keys[0]: "value"}
    pool = _pool(redis_cache)
    (pooled,) = pool._available_connections  # the one the read used, back in the pool
    pooled.send_command("CLIENT", "ID")
    client_id = pooled.read_response()
    killer = redis.Redis.from_url(REDIS_URL)
    assert killer.client_kill_filter(_id=client_id) == 1  # only our own connection
    killer.close()
    assert cache_reads.get_many(redis_cache, keys) == {keys[0]: "value"}
    assert not pool._in_use_connections


def test_an_error_mid_read_releases_and_propagates(redis_cache, monkeypatch):
    pool = _pool(redis_cache)
    connection = pool.get_connection()
    pool.release(connection)

    def broken(*args, **kwargs):
        connection.disconnect()
        raise redis.ConnectionError("dropped")

    monkeypatch.setattr(connection, "read_response", broken)
    with pytest.raises(redis.ConnectionError):
        cache_reads.get_many(redis_cache, _keys())
    assert not pool._in_use_connections
    monkeypatch.undo()
    keys = _keys()
    redis_cache.set(keys[1], 7, 60)
    assert cache_reads.get_many(redis_cache, keys) == {keys[1]: 7}


def test_a_pool_that_retries_is_left_to_redis_py(redis_cache, monkeypatch):
    """redis-py resends after a connection error when retries are configured: the fast path
    only takes pools whose connections retry nothing (Django's default)."""
    keys = _keys()
    redis_cache.set(keys[0], "v", 60)
    connection = _pool(redis_cache).get_connection()
    _pool(redis_cache).release(connection)
    monkeypatch.setattr(connection.retry, "get_retries", lambda: 3)
    calls = []
    real = type(redis_cache).get_many
    monkeypatch.setattr(
        type(redis_cache), "get_many", lambda self, *a, **k: calls.append(a) or real(self, *a, **k)
    )
    assert cache_reads.get_many(redis_cache, keys) == {keys[0]: "v"}
    assert calls == [(keys,)]


def _pipeline_replies(backend, commands):
    pipe = backend._cache.get_client(None, write=True).pipeline(transaction=False)
    for name, *args in commands:
        pipe.execute_command(name.decode(), *args)
    return pipe.execute()


def test_execute_many_answers_as_a_redis_py_pipeline(redis_cache):
    tag = uuid.uuid4().hex
    counter, other = (redis_cache.make_and_validate_key(f"{tag}:{n}") for n in ("c", "o"))
    commands = [(b"INCR", counter), (b"EXPIRE", counter, 60), (b"GET", other)]
    assert cache_reads.execute_many(redis_cache, commands) == [1, 1, None]
    assert _pipeline_replies(redis_cache, commands) == [2, 1, None]
    assert cache_reads.execute_many(cache, [(b"INCR", counter), (b"GET", counter)]) == [3, b"3"]
    assert cache_reads.execute_many(redis_cache, []) is None
    assert not _pool(redis_cache)._in_use_connections


def test_execute_many_reads_every_reply_then_raises_the_first_error(redis_cache):
    tag = uuid.uuid4().hex
    text, counter = (redis_cache.make_and_validate_key(f"{tag}:{n}") for n in ("t", "c"))
    redis_cache._cache.get_client(None, write=True).set(text, b"not a number")
    commands = [(b"INCR", text), (b"INCR", counter), (b"GET", counter)]
    with pytest.raises(redis.ResponseError, match="not an integer"):
        cache_reads.execute_many(redis_cache, commands)
    # The commands after the error ran, and the connection is still in step with its replies.
    assert cache_reads.execute_many(redis_cache, [(b"GET", counter), (b"GET", text)]) == [
        b"1",
        b"not a number",
    ]
    assert not _pool(redis_cache)._in_use_connections


def test_execute_many_leaves_other_caches_and_retrying_pools_to_the_caller(
    redis_cache, settings, monkeypatch
):
    connection = _pool(redis_cache).get_connection()
    _pool(redis_cache).release(connection)
    monkeypatch.setattr(connection.retry, "get_retries", lambda: 3)
    assert cache_reads.execute_many(redis_cache, [(b"GET", "x")]) is None
    assert not _pool(redis_cache)._in_use_connections
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert cache_reads.execute_many(cache, [(b"GET", "x")]) is None


@pytest.mark.parametrize("protocol", [None, 0, 1, 2, 5])
def test_values_decode_as_the_serializer_decodes_them(protocol, monkeypatch):
    from django.core.cache.backends.redis import RedisSerializer

    serializer = RedisSerializer(protocol=protocol)
    values = [42, -7, 0, True, None, "ünïcode", b"\x80bytes", {"a": (1, "b")}, 2**70, 1.5]
    stored = [str(v).encode() if type(v) is int else serializer.dumps(v) for v in values]
    expected = [serializer.loads(data) for data in stored]
    asked = []
    plain = RedisSerializer.loads
    monkeypatch.setattr(
        RedisSerializer, "loads", lambda self, data: asked.append(data) or plain(self, data)
    )
    loads = cache_reads._loads(serializer)
    got = [loads(data) for data in stored]
    assert got == expected and [type(v) for v in got] == [type(v) for v in expected]
    # Only what int() could read, or a pickle without the 0x80 mark, reaches Django's loads.
    marked = protocol is None or protocol >= 2
    assert asked == [d for d in stored if not (marked and d[:1] == b"\x80")]
    assert len(asked) == (4 if marked else len(values))


def test_a_custom_serializer_decodes_every_value():
    class Upper:
        def loads(self, data):
            return data.upper()

    serializer = Upper()
    assert cache_reads._loads(serializer) == serializer.loads
    assert cache_reads._loads(serializer)(b"\x80abc") == b"\x80ABC"


def test_a_broken_pickle_raises_as_the_serializer_does():
    from django.core.cache.backends.redis import RedisSerializer

    serializer = RedisSerializer()
    broken = serializer.dumps({"a": 1})[:-3]
    with pytest.raises(Exception) as expected:
        serializer.loads(broken)
    with pytest.raises(type(expected.value)):
        cache_reads._loads(serializer)(broken)


def test_replies_are_parsed_by_hiredis(redis_cache):
    # A dependency (redis[hiredis]): redis-py parses replies in C instead of Python.
    from redis._parsers import _HiredisParser

    connection = _pool(redis_cache).get_connection()
    try:
        assert isinstance(connection._parser, _HiredisParser)
    finally:
        _pool(redis_cache).release(connection)
