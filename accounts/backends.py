"""Django's ``ModelBackend`` with a cheaper user lookup on every signed-in request.

``ModelBackend.get_user`` runs ``User.objects.get(pk=...)`` for every request of a signed-in
user: a database round trip (and, with persistent connections, the health check before it)
on every page, for a row that hardly ever changes. Here the row is kept in the shared cache
(Redis in production) and read in the same round trip as its version tokens:

* ``authuser:v:<id>`` holds a random version token, replaced whenever the user's row changes
  (``post_save``/``post_delete``, and ``UserQuerySet.update``), both at once and again after
  the transaction commits;
* ``authuser:epoch`` holds a token replaced when every row may have changed (a database
  restore, ``forget_all_users``);
* ``authuser:r:<id>`` holds ``((epoch, version), field values, session auth hash)``, read
  from the database after the tokens were read, for ``ROW_TTL`` seconds at most.

A cached row is used only when its tokens are the current ones, so a renamed, re-roled,
deactivated or re-passworded user is seen on the next request, and a row read before a
concurrent change commits can never be served after it (its version was read earlier).
Changes made outside the ORM (raw SQL) are seen within ``ROW_TTL``.
The password hash never goes to the cache: the row is cached without it, and the user
object carries the session auth hash (an HMAC of the password hash with ``SECRET_KEY``,
which the session already holds) that ``django.contrib.auth.get_user`` compares; reading
``user.password`` loads it from the database (a deferred field). With the cache
unreachable the database answers, as before.

The session engine reads these three keys in the same round trip as the session when it
knows whose session it is (``accounts.sessions``): a signed-in page then costs one cache
round trip, not two.

On a cache miss the SQL of ``User.objects.filter(pk=...)`` is compiled once per process and
database (``uscpis.compiled``) and run with the session's user id; the row goes through the
same converters and ``Model.from_db`` as the ORM. Everything else (``authenticate``, permissions,
``user_can_authenticate``, and Django's session hash check) is ``ModelBackend``'s own.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import router, transaction

from uscpis import cache_reads
from uscpis.compiled import CompiledQuery

logger = logging.getLogger(__name__)

ROW_TTL = 60  # seconds: bounds what a change outside the ORM can leave stale
VERSION_TTL = 7 * 24 * 3600  # a lost version only costs a database read
_NOT_CACHED = ("password",)  # never leaves the database


@lru_cache(maxsize=8)
def _user_by_pk(model) -> CompiledQuery:
    """``model.objects.filter(pk=<id>)``, compiled once per process and database."""
    return CompiledQuery(model, lambda pk: model._default_manager.filter(pk=pk).order_by())


def load_user(user_id):
    """``User.objects.get(pk=user_id)`` from precompiled SQL (``None`` when there is none)."""
    model = get_user_model()
    pk = model._meta.pk.to_python(user_id)
    if pk is None:
        return None
    return _user_by_pk(model).first(pk)


# --- The cached row ------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _prefix(secret_key: str, namespace: str) -> str:
    # The cached session auth hash depends on SECRET_KEY: a new key starts a new cache.
    return f"authuser:{hashlib.sha256(secret_key.encode()).hexdigest()[:8]}:{namespace}"


def _keys(pk) -> tuple[str, str, str]:
    """(epoch, version, row) keys: the epoch is shared by every user (``forget_all_users``)."""
    prefix = _prefix(settings.SECRET_KEY, settings.USER_CACHE_NAMESPACE)
    return f"{prefix}:epoch", f"{prefix}:v:{pk}", f"{prefix}:r:{pk}"


@lru_cache(maxsize=8)
def _cached_attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname not in _NOT_CACHED)


def forget_user(pk) -> None:
    """The user's row changed: no cached copy may be served any more (now, and again once
    the transaction commits, so a copy read before the commit is not served after it)."""

    bump_version(_keys(pk)[1])


def forget_all_users() -> None:
    """Every user's row may have changed (a database restore): none is served from the
    cache any more, nor any API token (``accounts.token_cache`` shares this epoch)."""
    bump_version(epoch_key())


def epoch_key() -> str:
    """The token replaced when every user's row may have changed (a database restore)."""
    return _keys(0)[0]


def bump_version(key: str) -> None:
    """Replace the version token under ``key``, now and again once the transaction commits
    (so a copy read before the commit is not served after it)."""

    def bump() -> None:
        try:
            cache.set(key, uuid.uuid4().hex, VERSION_TTL)
        except Exception:  # the cached rows expire within ROW_TTL
            logger.warning("User cache unavailable; %s not replaced", key, exc_info=True)

    bump()
    transaction.on_commit(bump)


# --- Read with the session -------------------------------------------------------------
#
# The session engine (accounts/sessions.py) can fetch these keys in the same cache round trip
# as the session itself when it knows which user the session belongs to. Django's
# ``get_user(request)`` calls ``backend.get_user(user_id)`` without the request, so the
# authentication middleware names the request's session for the length of that call.

_reading_session: ContextVar = ContextVar("authuser_session", default=None)


def user_cache_keys(user_id) -> tuple[str, str, str] | None:
    """The keys ``cached_user(user_id)`` reads (``None`` for an id that is no user id)."""
    try:
        pk = get_user_model()._meta.pk.to_python(user_id)
    except (ValidationError, ValueError, TypeError):
        return None
    return None if pk is None else _keys(pk)


@contextmanager
def reading_user_of(session):
    """While Django reads the user of ``session``: ``cached_user`` takes the entries the
    session engine fetched with the session (``session.take_user_entries(keys)``), if any."""
    token = _reading_session.set(session)
    try:
        yield
    finally:
        _reading_session.reset(token)


def _prefetched(keys: tuple[str, str, str]) -> dict | None:
    take = getattr(_reading_session.get(), "take_user_entries", None)
    return take(keys) if take is not None else None


def cached_user(user_id):
    """``load_user(user_id)``, from the cache when its copy is current."""
    model = get_user_model()
    pk = model._meta.pk.to_python(user_id)
    keys = _keys(pk)
    epoch_key, version_key, row_key = keys
    attnames = _cached_attnames(model)
    try:
        tag, entry = read_versioned(keys, _prefetched(keys))
    except Exception:
        logger.warning("User cache unavailable; reading the user from the database", exc_info=True)
        return load_user(pk)
    if entry is not None:
        user = model.from_db(router.db_for_read(model), attnames, entry[1])
        user._cached_session_auth_hash = entry[2]
        return user
    try:
        tag = (current_token(epoch_key, tag[0]), current_token(version_key, tag[1]))
    except Exception:
        tag = (None, None)
    user = load_user(pk)  # read after the tag: a later change gives a new tag
    if user is not None and None not in tag:
        values = tuple(getattr(user, name) for name in attnames)
        try:
            cache.set(row_key, (tag, values, user.get_session_auth_hash()), ROW_TTL)
        except Exception:
            logger.warning("User cache unavailable; user not cached", exc_info=True)
    return user


def read_versioned(keys: tuple[str, str, str], found: dict | None = None) -> tuple:
    """``(tag, entry)`` for (epoch, version, entry) ``keys``: the two tokens (``None`` where
    missing) and the cached entry when it was stored under exactly that tag (else ``None``).
    ``found``: the keys' values when already read; otherwise they are read through this
    process's mirror (``uscpis.cache_mirror``). Raises what the cache raises."""
    if found is None:
        found = cache_reads.get_many(cache, list(keys), mirrored=True)
    epoch_key, version_key, entry_key = keys
    tag = (found.get(epoch_key), found.get(version_key))
    entry = found.get(entry_key)
    current = entry is not None and None not in tag and entry[0] == tag
    return tag, entry if current else None


def current_token(key: str, found):
    """The token under ``key``, created when there is none yet."""
    if found is not None:
        return found
    token = uuid.uuid4().hex
    return token if cache.add(key, token, VERSION_TTL) else cache.get(key)


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id):
        try:
            user = cached_user(user_id)
        except (ValidationError, ValueError, TypeError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
