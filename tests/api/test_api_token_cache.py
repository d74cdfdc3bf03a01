"""API tokens read from the cache (``accounts.token_cache``): a warm call reads neither the
database nor Redis for its token, and any change to a token or its user is seen on the
next call."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.core.cache import caches
from django.utils import timezone

from accounts import backends, services, token_cache
from accounts.models import ApiToken
from uscpis import cache_mirror, cache_reads

pytestmark = pytest.mark.django_db

URL = "/api/v1/appointment-types/"


@pytest.fixture
def warm(api_client):
    """An API client whose token is cached (the first call creates its version, the second
    caches its rows, the third is answered from the cache)."""

    def make(user, scope="read_write"):
        api = api_client(user, scope=scope)
        for _ in range(3):
            assert api.get(URL).status_code == 200
        api.token = ApiToken.objects.get(token_key=api.token_secret[: len(_key(api))])
        return api

    return make


def _key(api) -> str:
    from knox.settings import CONSTANTS

    return api.token_secret[: CONSTANTS.TOKEN_KEY_LENGTH]


@pytest.fixture
def db_reads(monkeypatch):
    """Every read of tokens from the database (the key each was for)."""
    reads: list[str] = []
    load = token_cache.load_tokens

    def counted(key):
        reads.append(key)
        return load(key)

    monkeypatch.setattr(token_cache, "load_tokens", counted)
    return reads


def test_a_warm_call_reads_no_token_from_the_database(warm, doctor_user, db_reads):
    api = warm(doctor_user)
    assert len(db_reads) == 2  # the first two calls (see ``warm``)
    assert api.get(URL).status_code == 200
    assert db_reads == [_key(api)] * 2
    # The cached token is the database's: same fields, same user.
    cached = token_cache.tokens_with_key(_key(api))
    fresh = token_cache.load_tokens(_key(api))
    fields = [f.attname for f in ApiToken._meta.concrete_fields]
    assert [[getattr(t, f) for f in fields] for t in cached] == [
        [getattr(t, f) for f in fields] for t in fresh
    ]
    assert [t.user.pk for t in cached] == [doctor_user.pk]


def test_a_revoked_token_is_refused_on_the_next_call(warm, doctor_user):
    api = warm(doctor_user)
    services.api_token_revoke(actor=doctor_user, token=api.token)
    assert api.get(URL).status_code == 401


def test_signing_out_everywhere_refuses_every_token(warm, doctor_user):
    api = warm(doctor_user)
    ApiToken.objects.filter(user=doctor_user).delete()  # a bulk delete, as services do
    assert api.get(URL).status_code == 401


def test_a_token_changed_by_a_bulk_update_is_seen_on_the_next_call(warm, doctor_user):
    api = warm(doctor_user, scope="read_write")
    ApiToken.objects.filter(pk=api.token.pk).update(scope="read")
    assert token_cache.tokens_with_key(_key(api))[0].scope == "read"
    ApiToken.objects.filter(pk=api.token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api.get(URL).status_code == 401
    assert not ApiToken.objects.filter(pk=api.token.pk).exists()  # deleted when presented


def test_a_token_expiring_while_cached_is_refused(warm, doctor_user, monkeypatch):
    api = warm(doctor_user)
    later = api.token.expiry + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert api.get(URL).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_call(warm, doctor_user):
    api = warm(doctor_user)
    doctor_user.is_active = False
    doctor_user.save(update_fields=["is_active"])
    assert api.get(URL).status_code == 401


def test_a_restored_database_is_read_again(warm, doctor_user, db_reads):
    api = warm(doctor_user)
    db_reads.clear()
    backends.forget_all_users()  # what a restore does
    assert api.get(URL).status_code == 200
    assert db_reads == [_key(api)]


def test_a_key_matching_no_token_writes_nothing(api_client, doctor_user):
    api = api_client(doctor_user)
    api.credentials(HTTP_AUTHORIZATION="Token " + "f" * 64)
    cache = caches["default"]
    keys = token_cache._keys("f" * 15)
    for _ in range(3):
        assert api.get(URL).status_code == 401
    assert cache.get(keys[1]) is None and cache.get(keys[2]) is None


def test_a_token_moved_to_another_key_is_found_under_it(warm, doctor_user, nurse_user):
    api = warm(doctor_user)
    other = warm(nurse_user)
    assert token_cache.tokens_with_key(_key(other))[0].user.pk == nurse_user.pk
    ApiToken.objects.filter(pk=api.token.pk).update(token_key=_key(other))
    found = token_cache.tokens_with_key(_key(other))
    assert sorted(t.user.pk for t in found) == sorted([doctor_user.pk, nurse_user.pk])
    assert token_cache.tokens_with_key(_key(api)) == []


def test_a_token_revoked_by_another_worker_is_refused_here(warm, doctor_user, monkeypatch):
    """Another process's revocation reaches this one through Redis's invalidation message
    (the mirror), not through this process's own cache writes."""
    cache = caches["default"]
    if not isinstance(cache, cache_mirror.RedisCache):
        pytest.skip("the mirror needs REDIS_URL")
    api = warm(doctor_user)
    mirror = cache_mirror._MIRRORS[cache._servers[0]]
    monkeypatch.setattr(cache_mirror.RedisCache, "_forget", lambda self, keys, version=None: None)
    ApiToken.objects.filter(pk=api.token.pk).delete()
    monkeypatch.undo()
    assert mirror._connection.can_read(timeout=2)
    assert api.get(URL).status_code == 401


def test_the_database_answers_when_the_cache_is_down(warm, doctor_user, monkeypatch, db_reads):
    api = warm(doctor_user)
    db_reads.clear()

    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(cache_reads, "get_many", down)  # tokens and users alike
    assert api.get(URL).status_code == 200
    assert db_reads == [_key(api)]
