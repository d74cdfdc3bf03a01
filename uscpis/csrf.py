"""The ``csrf_token`` of every page, masked with randomness drawn in one system call.

Django's ``get_token`` masks the CSRF secret with 32 characters from
``get_random_string``, which makes one ``secrets.choice`` (and one ``os.urandom`` system
call) per character: 32 calls on every signed-in page, whose layout carries the token twice
(``hx-headers`` and the sign-out form), and 64 on a first visit that also needs a secret.
``csrf_token`` here is the same token: the same secret in ``request.META`` (created and
flagged for the cookie exactly as ``get_token`` does), the same mask-and-add cipher that
``CsrfViewMiddleware`` unmasks, with each mask character drawn uniformly from
``os.urandom`` bytes (bytes of 248 and above are skipped, so no character is likelier).

Listed after Django's built-in ``csrf`` context processor, whose ``csrf_token`` it replaces
in templates; everything else that calls ``get_token`` keeps Django's.
"""

from __future__ import annotations

import os
from operator import add

from django.conf import settings
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.utils.cache import patch_vary_headers

_CHARS = CSRF_ALLOWED_CHARS
_N = len(_CHARS)
_LIMIT = 256 - 256 % _N  # bytes at or above this would favour the first characters
# The work is done on bytes by C loops (``bytes.translate``, ``map``): a random byte becomes
# its character (bytes from _LIMIT up are deleted), a character becomes its index, and the
# sum of two indexes becomes the character at that sum modulo _N.
_BYTE_TO_CHAR = bytes(ord(_CHARS[b % _N]) for b in range(256))
_SKIPPED = bytes(range(_LIMIT, 256))
_CHAR_TO_INDEX = bytes(_CHARS.find(chr(b)) % 256 for b in range(256))  # 255: not a char
_SUM_TO_CHAR = bytes(ord(_CHARS[b % _N]) for b in range(256))


def random_chars(length: int) -> str:
    """``length`` characters of ``CSRF_ALLOWED_CHARS``, each uniformly random."""
    drawn = os.urandom(length + 8).translate(_BYTE_TO_CHAR, _SKIPPED)
    while len(drawn) < length:
        drawn += os.urandom(length + 8).translate(_BYTE_TO_CHAR, _SKIPPED)
    return drawn[:length].decode("ascii")


def masked_token(request) -> str:
    """``django.middleware.csrf.get_token(request)``: the secret, masked afresh."""
    secret = request.META.get("CSRF_COOKIE")
    if secret is None:  # no valid cookie came in: a new secret, as get_token makes
        secret = random_chars(CSRF_SECRET_LENGTH)
        request.META["CSRF_COOKIE"] = secret
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True  # send (renew) the cookie
    mask = random_chars(CSRF_SECRET_LENGTH)
    # Django's _mask_cipher_secret: each cipher character is CHARS[(secret + mask) % N].
    sums = map(
        add,
        secret.encode("ascii").translate(_CHAR_TO_INDEX),
        mask.encode("ascii").translate(_CHAR_TO_INDEX),
    )
    return mask + bytes(sums).translate(_SUM_TO_CHAR).decode("ascii")


class CsrfToken:
    """The page's token, masked when first shown and then the same string everywhere on the
    page: what Django's ``SimpleLazyObject`` around ``get_token`` is to templates
    (``{{ csrf_token }}``, ``{% csrf_token %}``, ``str()``, truthiness, comparison), without
    its cost. Every ``isinstance()`` check on a ``SimpleLazyObject`` (Django makes several
    for each value a template shows: ``template_localtime``, ``localize``, ``keep_lazy``'s
    ``Promise`` test in ``escape``) goes through its ``__class__`` property and the
    ``__getattribute__`` every lazy object runs in Python: ~4% of a signed-in page that
    shows the token twice. The token is 64 letters and digits: nothing in it needs escaping,
    so ``__html__`` (what ``conditional_escape`` and ``format_html`` ask for) is the token."""

    __slots__ = ("_request", "_value")

    def __init__(self, request):
        self._request = request
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = masked_token(self._request)
        return self._value

    __html__ = __str__

    def __bool__(self) -> bool:
        return True  # a masked token is never empty

    def __eq__(self, other) -> bool:
        return str(self) == other

    def __hash__(self) -> int:
        return hash(str(self))

    def __len__(self) -> int:
        return len(str(self))

    def __repr__(self) -> str:
        return f"<CsrfToken {str(self)!r}>"

    def __getattr__(self, name):  # any other str method (``upper``, ``startswith``...)
        if name.startswith("_"):  # a copy made without __init__ has no slots set
            raise AttributeError(name)
        return getattr(str(self), name)


def csrf(request) -> dict:
    """Context processor: ``csrf_token`` for ``{{ csrf_token }}`` and ``{% csrf_token %}``."""
    return {"csrf_token": CsrfToken(request)}


class CsrfCookieUnchangedMiddleware:
    """Listed right after Django's ``CsrfViewMiddleware``: a page using the token does not
    send the CSRF cookie again when the browser already holds that very secret in it.

    Django re-sends the cookie on every such page to renew its expiry (a year,
    ``CSRF_COOKIE_AGE``): one ``Set-Cookie`` header built per signed-in page. Here the
    cookie is still sent whenever the secret is new or changed (a first visit, a malformed
    or pre-Django-4 cookie, ``rotate_token`` at every sign-in), and not to a browser that
    sent the same secret: its year then runs from the last sign-in, and a session lasts at
    most ``SESSION_COOKIE_AGE`` (12 hours) after it, so a signed-in user's cookie cannot
    lapse. The response still says ``Vary: Cookie``. (Views that protect themselves with
    ``csrf_protect``, the sign-in form, send it as Django does.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        meta = request.META
        if (
            meta.get("CSRF_COOKIE_NEEDS_UPDATE")
            and not settings.CSRF_USE_SESSIONS
            and meta.get("CSRF_COOKIE") is not None
            and request.COOKIES.get(settings.CSRF_COOKIE_NAME) == meta["CSRF_COOKIE"]
        ):
            # what CsrfViewMiddleware does once it has sent the cookie: it then sends none
            meta["CSRF_COOKIE_NEEDS_UPDATE"] = False
            patch_vary_headers(response, ("Cookie",))
        return response
