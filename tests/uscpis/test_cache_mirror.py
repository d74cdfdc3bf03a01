"""The per-process mirror of the session and user entries (``uscpis.cache_mirror``) answers
what Redis would answer now: a change made anywhere is seen on the next read, and anything
going wrong falls back to reading Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import redis
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from uscpis import cache_mirror, cache_reads

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
MIRRORED = {
    "default": {
        "BACKEND": "uscpis.cache_mirror.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache-mirror-test",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}


@pytest.fixture
def mirrored(settings):
    """The mirrored Redis cache, its mirror started afresh, and a second client standing for
    every other process (its writes reach this one only through Redis's messages)."""
    settings.CACHE_MIRROR_MAX_AGE = 60
    with override_settings(CACHES=MIRRORED):
        backend = caches["default"]
        try:
            backend.set("ping", 1, 5)
        except redis.ConnectionError:
            pytest.skip("no Redis at REDIS_URL")
        old = cache_mirror._MIRRORS.pop(REDIS_URL, None)
        other = redis.Redis.from_url(REDIS_URL)
        yield backend, other
        other.close()
        mirror = cache_mirror._MIRRORS.pop(REDIS_URL, None)
        if mirror is not None:
            mirror.close()
        if old is not None:
            cache_mirror._MIRRORS[REDIS_URL] = old


def _mirror() -> cache_mirror.Mirror:
    return cache_mirror._MIRRORS[REDIS_URL]


def _keys(n: int = 3) -> list[str]:
    tag = uuid.uuid4().hex
    return [f"{tag}:{i}" for i in range(n)]


class _Sent:
    """Counts the commands the mirror sends to Redis."""

    def __init__(self, monkeypatch, mirror):
        self.count = 0
        connection = mirror._connection
        send = connection.send_packed_command

        def counting(*args, **kwargs):
            self.count += 1
            return send(*args, **kwargs)

        monkeypatch.setattr(connection, "send_packed_command", counting)


def _read(backend, keys):
    return cache_reads.get_many(backend, keys, mirrored=True)


def _wait_for_message(mirror) -> None:
    """Until Redis's message about another client's write has reached this process."""
    assert mirror._connection.can_read(timeout=2), "Redis sent no invalidation"


def test_a_second_read_is_answered_without_asking_redis(mirrored, monkeypatch):
    backend, _ = mirrored
    keys = _keys()
    backend.set(keys[0], {"a": 1}, 60)
    backend.set(keys[1], 7, 60)
    assert _read(backend, keys) == {keys[0]: {"a": 1}, keys[1]: 7}
    sent = _Sent(monkeypatch, _mirror())
    first = _read(backend, keys)
    second = _read(backend, keys)
    assert first == second == {keys[0]: {"a": 1}, keys[1]: 7}
    assert sent.count == 0
    first[keys[0]]["a"] = 2  # each answer is a copy of its own
    assert _read(backend, keys)[keys[0]] == {"a": 1}
    assert _read(backend, [*keys, "new"]) == {keys[0]: {"a": 1}, keys[1]: 7}
    assert sent.count == 1  # a key not yet mirrored: all read again, together


def test_another_process_writing_or_deleting_a_key_is_seen_on_the_next_read(mirrored):
    backend, other = mirrored
    keys = _keys()
    backend.set(keys[0], "before", 60)
    backend.set(keys[1], "kept", 60)
    assert _read(backend, keys) == {keys[0]: "before", keys[1]: "kept"}
    mirror = _mirror()

    other.set(backend.make_key(keys[0]), b"42")
    _wait_for_message(mirror)
    assert _read(backend, keys) == {keys[0]: 42, keys[1]: "kept"}

    other.delete(backend.make_key(keys[1]))  # a session signed out on another worker
    _wait_for_message(mirror)
    assert _read(backend, keys) == {keys[0]: 42}

    other.set(backend.make_key(keys[2]), b"1")  # a key that was missing when read
    _wait_for_message(mirror)
    assert _read(backend, keys) == {keys[0]: 42, keys[2]: 1}


def test_a_flushed_database_forgets_everything(mirrored):
    backend, other = mirrored
    keys = _keys()
    backend.set(keys[0], "x", 60)
    assert _read(backend, keys) == {keys[0]: "x"}
    other.flushdb()
    _wait_for_message(_mirror())
    assert _read(backend, keys) == {}


def test_an_expired_key_is_not_answered(mirrored):
    backend, other = mirrored
    keys = _keys()
    other.set(backend.make_key(keys[0]), b"1", px=50)
    assert _read(backend, keys) == {keys[0]: 1}
    time.sleep(0.1)
    # Redis deletes an expired key when its expiry cycle finds it or when it is next read
    # (here by another client), and says so; ``max_age`` bounds the wait for the cycle.
    assert not other.exists(backend.make_key(keys[0]))
    _wait_for_message(_mirror())
    assert _read(backend, keys) == {}


def test_entries_older_than_max_age_are_read_again(mirrored, monkeypatch, settings):
    backend, other = mirrored
    settings.CACHE_MIRROR_MAX_AGE = 5
    keys = _keys()
    backend.set(keys[0], "x", 60)
    assert _read(backend, keys) == {keys[0]: "x"}
    mirror = _mirror()
    sent = _Sent(monkeypatch, mirror)
    now = cache_mirror.time.monotonic()
    monkeypatch.setattr(cache_mirror.time, "monotonic", lambda: now + 4)
    assert _read(backend, keys) == {keys[0]: "x"}
    assert sent.count == 0
    monkeypatch.setattr(cache_mirror.time, "monotonic", lambda: now + 6)
    assert _read(backend, keys) == {keys[0]: "x"}
    assert sent.count == 1


@pytest.mark.parametrize(
    "write",
    [
        lambda backend, keys: backend.set(keys[0], "new", 60),
        lambda backend, keys: backend.add(keys[2], "new", 60),
        lambda backend, keys: backend.delete(keys[1]),
        lambda backend, keys: backend.incr(keys[1]),
        lambda backend, keys: backend.decr(keys[1]),
        lambda backend, keys: backend.touch(keys[0], 0),
        lambda backend, keys: backend.set_many({keys[0]: "new", keys[1]: 9}, 60),
        lambda backend, keys: backend.delete_many(keys),
        lambda backend, keys: backend.clear(),
    ],
    ids=["set", "add", "delete", "incr", "decr", "touch", "set_many", "delete_many", "clear"],
)
def test_a_write_in_this_process_is_seen_at_once(mirrored, monkeypatch, write):
    backend, _ = mirrored
    keys = _keys()
    backend.set(keys[0], "old", 60)
    backend.set(keys[1], 1, 60)
    assert _read(backend, keys) == {keys[0]: "old", keys[1]: 1}
    # No waiting for Redis's message: the write itself forgot the mirrored copies.
    monkeypatch.setattr(cache_mirror.Mirror, "_take_messages", lambda self: None)
    write(backend, keys)
    assert _read(backend, keys) == backend.get_many(keys)


def test_a_read_during_a_write_in_this_process_is_not_kept(mirrored, monkeypatch):
    backend, _ = mirrored
    keys = _keys()
    backend.set(keys[0], "old", 60)
    assert _read(backend, keys) == {keys[0]: "old"}
    mirror = _mirror()
    mirror.forget(backend.make_key(k) for k in keys)
    connection = mirror._connection
    read_response = connection.read_response

    def write_meanwhile(*args, **kwargs):
        reply = read_response(*args, **kwargs)  # "old", read before the write below
        monkeypatch.setattr(connection, "read_response", read_response)
        backend.set(keys[0], "new", 60)
        return reply

    monkeypatch.setattr(connection, "read_response", write_meanwhile)
    assert _read(backend, keys) == {keys[0]: "old"}
    monkeypatch.setattr(cache_mirror.Mirror, "_take_messages", lambda self: None)
    assert _read(backend, keys) == {keys[0]: "new"}


def test_a_lost_connection_drops_the_mirror_and_redis_answers(mirrored, caplog):
    backend, other = mirrored
    keys = _keys()
    backend.set(keys[0], "x", 60)
    assert _read(backend, keys) == {keys[0]: "x"}
    mirror = _mirror()
    mirror._connection.send_command("CLIENT", "ID")
    client_id = mirror._connection.read_response()
    listed = other.execute_command("CLIENT", "LIST", "ID", client_id)
    assert b"flags=t" in listed  # the mirror's connection is tracked
    other.client_kill_filter(_id=client_id)  # as a Redis restart would
    other.set(backend.make_key(keys[0]), b"5")
    assert _read(backend, keys) == {keys[0]: 5}  # answered by a plain read
    assert mirror._connection is None and mirror._entries == {}
    assert "Cache mirror dropped" in caplog.text
    assert _read(backend, keys) == {keys[0]: 5}  # and the mirror is open again
    assert mirror._connection is not None and mirror._entries


def test_an_unreachable_redis_raises_as_a_plain_read_does(settings, monkeypatch, caplog):
    settings.CACHE_MIRROR_MAX_AGE = 60
    dead = {
        "default": {
            **MIRRORED["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    try:
        with override_settings(CACHES=dead):
            for _ in range(3):
                with pytest.raises(redis.ConnectionError):
                    cache_reads.get_many(caches["default"], ["a"], mirrored=True)
            # The mirror tried once; it waits RETRY_AFTER before trying (and warning) again.
            assert caplog.text.count("Cache mirror unavailable") == 1
            now = cache_mirror.time.monotonic()
            later = now + cache_mirror.RETRY_AFTER + 1
            monkeypatch.setattr(cache_mirror.time, "monotonic", lambda: later)
            with pytest.raises(redis.ConnectionError):
                cache_reads.get_many(caches["default"], ["a"], mirrored=True)
            assert caplog.text.count("Cache mirror unavailable") == 2
    finally:
        cache_mirror._MIRRORS.pop("redis://127.0.0.1:1/0", None)


def test_a_forked_process_opens_its_own(mirrored, monkeypatch):
    backend, _ = mirrored
    keys = _keys()
    assert _read(backend, keys) == {}
    parent = _mirror()
    monkeypatch.setattr(cache_mirror.os, "getpid", lambda: parent.pid + 1)
    assert _read(backend, keys) == {}
    assert _mirror() is not parent and _mirror()._connection is not parent._connection


def test_another_thread_reads_redis_while_the_mirror_is_busy(mirrored, monkeypatch):
    backend, _ = mirrored
    keys = _keys()
    backend.set(keys[0], "x", 60)
    assert _read(backend, keys) == {keys[0]: "x"}
    mirror = _mirror()
    sent = _Sent(monkeypatch, mirror)
    answers = []
    with mirror._lock:
        thread = threading.Thread(target=lambda: answers.append(_read(backend, keys)))
        thread.start()
        thread.join(5)
    assert answers == [{keys[0]: "x"}] and sent.count == 0


def test_off_when_max_age_is_zero_or_for_another_backend(mirrored, settings):
    backend, _ = mirrored
    settings.CACHE_MIRROR_MAX_AGE = 0
    assert _read(backend, _keys()) == {}
    assert REDIS_URL not in cache_mirror._MIRRORS
    settings.CACHE_MIRROR_MAX_AGE = 60
    plain = {
        "default": {**MIRRORED["default"], "BACKEND": "django.core.cache.backends.redis.RedisCache"}
    }
    with override_settings(CACHES=plain):
        assert cache_reads.get_many(caches["default"], _keys(), mirrored=True) == {}
    assert REDIS_URL not in cache_mirror._MIRRORS


# --- signing out, seen by every worker -----------------------------------------------------


@pytest.mark.django_db
def test_a_session_signed_out_by_another_worker_is_signed_out_here(client_for, nurse_user):
    """The mirror is on in the settings the tests run with: the shell reads the session from
    it, and a session another worker deletes (its row and its cache entry) is gone here on
    the very next request."""
    cache = caches["default"]
    if not isinstance(cache, cache_mirror.RedisCache):
        pytest.skip("the mirror needs REDIS_URL")
    client = client_for(nurse_user)
    home = reverse("accounts:home")
    assert client.get(home).status_code == 200
    assert client.get(home).status_code == 200  # the session now answered by the mirror
    mirror = cache_mirror._MIRRORS[cache._servers[0]]
    session_key = client.session.session_key
    full_key = cache.make_key(client.session.cache_key)
    assert full_key.encode() in mirror._entries

    other = redis.Redis.from_url(cache._servers[0])
    try:
        Session.objects.filter(session_key=session_key).delete()
        other.delete(full_key)
        _wait_for_message(mirror)
    finally:
        other.close()
    response = client.get(home)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.django_db
def test_a_user_deactivated_by_another_worker_is_refused_here(client_for, nurse_user, monkeypatch):
    cache = caches["default"]
    if not isinstance(cache, cache_mirror.RedisCache):
        pytest.skip("the mirror needs REDIS_URL")
    client = client_for(nurse_user)
    home = reverse("accounts:home")
    assert client.get(home).status_code == 200
    assert client.get(home).status_code == 200
    mirror = cache_mirror._MIRRORS[cache._servers[0]]
    # Another worker's write: this process's mirror hears of it from Redis only.
    monkeypatch.setattr(cache_mirror.RedisCache, "_forget", lambda self, keys, version=None: None)
    nurse_user.is_active = False
    nurse_user.save()
    monkeypatch.undo()
    _wait_for_message(mirror)
    assert client.get(home).status_code == 302
