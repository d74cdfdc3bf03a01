"""Who is calling: a personal API token (knox, hashed and expiring), else the web session.

A token of a deactivated user is refused at once (knox checks ``is_active`` on every
request); an expired token is deleted when presented. The token's last use (time and IP) is
written at most once a minute, so a busy integration does not turn every read into a write.
The lookup is knox's own query (``filter(token_key=...).select_related("user")``, in the
tokens' ordering), answered from the cache while its copy is current
(``accounts.token_cache``: a revoked, re-scoped or deleted token, or a deactivated user, is
seen on the next request), and one SHA-512 of the secret; knox's scan of all the user's
other tokens on every request (to delete expired ones) is left to the nightly
``prune_api_records``.
"""

from __future__ import annotations

import binascii
from datetime import timedelta
from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import authentication, exceptions

from accounts.token_cache import tokens_with_key
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
        """knox's: the tokens with this key, newest first, each checked for expiry and then
        against the secret's digest (the first that matches, its user active, wins)."""
        msg = _("Invalid token.")
        token = token.decode("utf-8")
        for auth_token in tokens_with_key(token[: CONSTANTS.TOKEN_KEY_LENGTH]):
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
