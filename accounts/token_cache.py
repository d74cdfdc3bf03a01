"""The API tokens with a key, read from the cache when its copy is current.

Every API request looks up its token (knox's ``filter(token_key=...)``) and the token's
user: a database round trip on every call, for rows that hardly ever change. Here the
token rows are kept in the shared cache under version tokens, as ``accounts.backends``
keeps users:

* ``apitoken:v:<token key>`` holds a random version token, replaced whenever a token with
  that key is saved or deleted (``post_save``/``post_delete``, which bulk deletes send too,
  and ``ApiTokenQuerySet.update``), both at once and again after the transaction commits;
* the users' epoch (``accounts.backends``), replaced when every row may have changed (a
  database restore);
* ``apitoken:r:<token key>`` holds ``((epoch, version), rows)``, read from the database
  after the tokens were read, for ``ROW_TTL`` seconds at most.

A cached copy is used only when its tokens are the current ones, so a revoked, re-scoped
or deleted token is refused on the next request, and rows read before a concurrent change
commits are never served after it. The token's user comes from ``cached_user`` (current in
the same way: a deactivated user's token is refused on the next request), and expiry is
checked on every request as before (``uscpis.api.auth``). The keys are read through the
process's mirror (``uscpis.cache_mirror``), so a warm API call reads neither the database
nor Redis for its token.

The cached rows hold what the database holds: the token key and the SHA-512 digest of the
secret (random and long: the digest does not give the secret back). Whoever can write to
this Redis can already forge sessions.

A key that matches no token is never cached (nothing is written for it): a caller trying
random keys costs database reads, as before, and no cache memory. With the cache
unreachable the database answers.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.core.cache import cache
from django.db import router
from knox.models import get_token_model

from accounts import backends
from uscpis.compiled import CompiledQuery

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _tokens(model) -> CompiledQuery:
    """knox's lookup, compiled once per process and database (``uscpis.compiled``) and
    prepared once per connection (``uscpis.prepared``): found through the token key's
    index whatever the key, its plan never depends on it."""
    return CompiledQuery(
        model,
        lambda key: model._default_manager.filter(token_key=key).select_related("user"),
        prepare=True,
    )


def load_tokens(key: str) -> list:
    """``get_token_model().objects.filter(token_key=key).select_related("user")``, the same
    objects in the same order, without building the query each time."""
    return _tokens(get_token_model()).all(key)


@lru_cache(maxsize=8)
def _attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def _keys(token_key: str) -> tuple[str, str, str]:
    """(epoch, version, rows) keys; the epoch is the users' (``forget_all_users``)."""
    epoch_key = backends.epoch_key()
    prefix = "apitoken" + epoch_key.removeprefix("authuser").removesuffix(":epoch")
    return epoch_key, f"{prefix}:v:{token_key}", f"{prefix}:r:{token_key}"


def forget_token(token_key: str) -> None:
    """A token with this key changed: no cached copy may be served any more (now, and
    again once the transaction commits)."""
    backends.bump_version(_keys(token_key)[1])


def tokens_with_key(key: str) -> list:
    """``load_tokens(key)``, each with its user, from the cache when its copy is current (a
    token whose user no longer exists is left out)."""
    model = get_token_model()
    keys = _keys(key)
    epoch_key, version_key, rows_key = keys
    try:
        tag, entry = backends.read_versioned(keys)
    except Exception:
        logger.warning(
            "Token cache unavailable; reading the token from the database", exc_info=True
        )
        return load_tokens(key)
    if entry is not None:
        db = router.db_for_read(model)
        attnames = _attnames(model)
        tokens = []
        for values in entry[1]:
            token = model.from_db(db, attnames, values)
            user = backends.cached_user(token.user_id)
            if user is not None:  # deleted since: its tokens went with it
                token.user = user
                tokens.append(token)
        return tokens
    if None in tag:
        # No version yet: created only for a key that has tokens (never for a guessed
        # key); this request reads the database, the next one fills the cache.
        tokens = load_tokens(key)
        if tokens:
            try:
                backends.current_token(epoch_key, tag[0])
                backends.current_token(version_key, tag[1])
            except Exception:
                logger.warning("Token cache unavailable; token not cached", exc_info=True)
        return tokens
    tokens = load_tokens(key)  # read after the tag: a later change gives a new tag
    if tokens:
        attnames = _attnames(model)
        rows = [tuple(getattr(token, name) for name in attnames) for token in tokens]
        try:
            cache.set(rows_key, (tag, rows), backends.ROW_TTL)
        except Exception:
            logger.warning("Token cache unavailable; token not cached", exc_info=True)
    return tokens
