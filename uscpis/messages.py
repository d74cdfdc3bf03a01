"""Django's message storage (a signed cookie, then the session) without building the cookie
signer on every request.

``CookieStorage.__init__`` builds its signer (``signing.get_cookie_signer``: an import by
path, the key and fallback keys, the separator checks) for every request, though it signs
or checks a signature only when a message is stored in or read from the cookie, which most
requests never do. Here the signer is built the first time it is used; storing, reading,
size limits and the fallback to the session are Django's own.
"""

from __future__ import annotations

from django.contrib.messages.storage import cookie, fallback
from django.contrib.messages.storage.base import BaseStorage
from django.contrib.messages.storage.session import SessionStorage
from django.core import signing
from django.utils.functional import cached_property


class CookieStorage(cookie.CookieStorage):
    def __init__(self, *args, **kwargs):
        # cookie.CookieStorage.__init__ only adds the signer, which comes from the property
        BaseStorage.__init__(self, *args, **kwargs)

    @cached_property
    def signer(self):
        return signing.get_cookie_signer(salt=self.key_salt)


class FallbackStorage(fallback.FallbackStorage):
    storage_classes = (CookieStorage, SessionStorage)
