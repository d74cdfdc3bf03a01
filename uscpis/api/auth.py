"""Who is calling: a personal API token (knox, hashed and expiring), else the web session.

A token of a deactivated user is refused at once (knox checks ``is_active`` on every
request); an expired token is deleted when presented. The token's last use (time and IP) is
written at most once a minute, so a busy integration does not turn every read into a write.
The lookup is one indexed query (token key, with the user), its SQL written once per process
from the two models' columns (not compiled by the ORM on every request), and one SHA-512 of
the secret; knox's scan of all the user's other tokens on every request (to delete expired
ones) is left to the nightly ``prune_api_records``.
"""

from __future__ import annotations

import binascii
from datetime import timedelta
from functools import lru_cache
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import authentication, exceptions

from uscpis.http import client_ip

LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <secret>``."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            _touch(result[1], request)
        return result

    def authenticate_credentials(self, token):
        """knox's own check (each token with the key: expired ones deleted, the digest
        compared in constant time, auto-refresh, an inactive user refused), over the rows
        read by ``tokens_with_user``."""
        msg = _("Invalid token.")
        token = token.decode("utf-8")
        for auth_token in tokens_with_user(token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)

    def _cleanup_token(self, auth_token) -> bool:
        """True (and the token deleted) when the presented token has expired."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


def _touch(token, request) -> None:
    now = timezone.now()
    ip = client_ip(request)
    if (
        token.last_used_at is not None
        and now - token.last_used_at < LAST_USED_RESOLUTION
        and token.last_used_ip == ip
    ):
        return
    type(token).objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


class SessionAuthentication(authentication.SessionAuthentication):
    """The signed-in browser (the API docs' "try it out"); CSRF-checked for writes."""


@lru_cache(maxsize=4)
def _token_sql(using: str):
    """The SQL of ``ApiToken.objects.filter(token_key=...).select_related("user")`` (in the
    token model's order) and, for each of the two models, its fields and their database
    converters: worked out once per process."""
    token_model, user_model = get_token_model(), get_user_model()
    connection = connections[using]
    quote = connection.ops.quote_name

    def shape(model):
        fields = list(model._meta.concrete_fields)
        converters = []
        for i, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            convs = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            if convs:
                converters.append((i, convs, col))
        return model, fields, [f.attname for f in fields], converters

    token, user = shape(token_model), shape(user_model)
    columns = [f"t.{quote(f.column)}" for f in token[1]] + [f"u.{quote(f.column)}" for f in user[1]]
    order = ", ".join(
        f"t.{quote(token_model._meta.get_field(o.lstrip('-')).column)}"
        + (" DESC" if o.startswith("-") else "")
        for o in token_model._meta.ordering
    )
    user_fk = token_model._meta.get_field("user")
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(token_model._meta.db_table)} AS t "  # noqa: S608 (our SQL; the key is a parameter)
        f"INNER JOIN {quote(user_model._meta.db_table)} AS u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(user_fk.column)} "
        f"WHERE t.{quote(token_model._meta.get_field('token_key').column)} = %s"
        + (f" ORDER BY {order}" if order else "")
    )
    return sql, token, user, user_fk


def _instance(shape, values, using: str, connection):
    model, _fields, attnames, converters = shape
    if converters:
        values = list(values)
        for i, convs, col in converters:
            for convert in convs:
                values[i] = convert(values[i], col, connection)
    return model.from_db(using, attnames, values)


def tokens_with_user(token_key: str) -> list:
    """The tokens with this key, each with its user loaded (what the ORM's
    ``select_related("user")`` gives), read with one query."""
    using = router.db_for_read(get_token_model())
    connection = connections[using]
    sql, token, user, user_fk = _token_sql(using)
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_key])
        rows = cursor.fetchall()
    split = len(token[1])
    tokens = []
    for row in rows:
        auth_token = _instance(token, row[:split], using, connection)
        user_fk.set_cached_value(auth_token, _instance(user, row[split:], using, connection))
        tokens.append(auth_token)
    return tokens
