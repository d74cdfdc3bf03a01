"""Issue 15: a signed-in request reads its session and its user in one cache round trip
(accounts.sessions fetches the user's entries with the session, accounts.backends uses them),
and what it shows is still the current user."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import backends, sessions
from accounts.backends import cached_user, reading_user_of, user_cache_keys
from accounts.models import User
from accounts.roles import Role
from tests.conftest import login
from uscpis import cache_reads

pytestmark = pytest.mark.django_db

SHELL = "/__bench__/shell/"
READS = ("get", "get_many", "has_key")
WRITES = ("set", "add", "set_many", "delete", "incr", "touch")


@pytest.fixture(autouse=True)
def shell_urls(settings):
    settings.ROOT_URLCONF = "uscpis.bench_urls"
    settings.SESSION_ENGINE = "accounts.sessions"


@pytest.fixture
def cache_calls(monkeypatch):
    """Every call made on the default cache, by method name."""
    calls: list[str] = []
    cache = caches["default"]
    for name in READS + WRITES:
        original = getattr(cache, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(cache, name, counted)
    # uscpis.cache_reads.get_many sends its MGET without cache.get_many when the cache is
    # Redis (otherwise it calls cache.get_many, counted above): one read either way (when
    # this process's mirror answers it, no round trip at all: tests/uscpis/test_cache_mirror).
    original_get_many = cache_reads.get_many

    def counted_get_many(cache, keys, **kwargs):
        before = len(calls)
        found = original_get_many(cache, keys, **kwargs)
        if len(calls) == before:
            calls.append("get_many")
        return found

    monkeypatch.setattr(cache_reads, "get_many", counted_get_many)
    return calls


def test_a_warm_signed_in_page_reads_the_cache_once(client, make_user, cache_calls):
    user = make_user(Role.DOCTOR, first_name="Once")
    login(client, user)
    client.get(SHELL)  # session and user cached, this process knows whose session it is
    client.get(SHELL)
    cache_calls.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(SHELL)
    assert response.status_code == 200 and "Once" in response.content.decode()
    assert cache_calls == ["get_many"]  # the session and the user's three keys together
    assert not queries.captured_queries


def test_the_user_read_with_the_session_is_the_current_one(client, make_user):
    user = make_user(Role.DOCTOR, first_name="Before")
    login(client, user)
    for _ in range(2):
        assert "Before" in client.get(SHELL).content.decode()
    User.objects.filter(pk=user.pk).update(first_name="After")
    assert "After" in client.get(SHELL).content.decode()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(SHELL).status_code == 302


def test_a_wrong_guess_reads_the_session_user_not_the_guessed_one(client, make_user):
    """The process's guess of whose session it is only decides what is fetched: a session
    naming someone else gets its own user (and a second round trip)."""
    guessed = make_user(Role.NURSE, first_name="Guessed")
    owner = make_user(Role.DOCTOR, first_name="Owner")
    cached_user(guessed.pk)  # the guessed user's entries are in the cache
    login(client, owner)
    client.get(SHELL)
    key = client.cookies["sessionid"].value
    sessions._USER_OF[hash(key)] = str(guessed.pk)
    response = client.get(SHELL)
    content = response.content.decode()
    assert "Owner" in content and "Guessed" not in content
    assert sessions._USER_OF[hash(key)] == str(owner.pk)  # corrected for the next request


def test_entries_are_taken_once_and_only_for_their_user(client, make_user):
    user = make_user(Role.DOCTOR)
    other = make_user(Role.DOCTOR)
    login(client, user)
    client.get(SHELL)
    key = client.cookies["sessionid"].value
    store = sessions.SessionStore(key)
    assert store[SESSION_KEY] == str(user.pk)  # loads, with the user's entries
    assert store.take_user_entries(user_cache_keys(other.pk)) is None
    entries = store.take_user_entries(user_cache_keys(user.pk))
    assert entries is not None and set(entries) <= set(user_cache_keys(user.pk))
    assert store.take_user_entries(user_cache_keys(user.pk)) is None  # used once


def test_entries_are_used_only_while_that_session_user_is_read(client, make_user, monkeypatch):
    """Outside ``reading_user_of(session)`` (a later request, a task), ``cached_user`` reads
    the cache itself: a session's entries never outlive the read they were fetched for."""
    user = make_user(Role.DOCTOR, first_name="Fresh")
    login(client, user)
    client.get(SHELL)
    store = sessions.SessionStore(client.cookies["sessionid"].value)
    store.load()
    User.objects.filter(pk=user.pk).update(first_name="Renamed")  # after the session was read
    assert cached_user(user.pk).first_name == "Renamed"
    with reading_user_of(store):
        taken = []
        monkeypatch.setattr(
            store, "take_user_entries", lambda keys: taken.append(keys) or None, raising=False
        )
        assert cached_user(user.pk).first_name == "Renamed"
        assert taken == [user_cache_keys(user.pk)]
    assert backends._reading_session.get() is None


def test_no_user_keys_for_a_non_id():
    assert user_cache_keys("not-a-number") is None
    assert user_cache_keys(None) is None
