"""Rate limits for the public doors (sign-in, sign-up, password reset, certificate checks,
online booking) and anything else that needs them, the REST API included.

One small fixed-window counter in the shared cache (Redis in production, the file cache on
embedded defaults), keyed per scope and per subject: the caller's IP address
(``uscpis.http.client_ip``, which honours ``TRUSTED_PROXY_COUNT``) and, where the request
names one, the account (an email address, a user id). Limits live in
``settings.RATE_LIMITS``::

    RATE_LIMITS = {"password_reset": {"ip": "10/h", "account": "3/h"}, ...}

and each can be overridden from the environment, ``RATE_LIMIT_PASSWORD_RESET_IP=20/h``.
A rate is ``<count>/<period>`` where the period is ``s``, ``m``, ``h``, ``d`` or a number of
them (``5/15m``). ``0/...`` blocks; an empty value or ``off`` disables that limit.

Use it three ways:

* ``@rate_limited("signup", account=lambda r: r.POST.get("email"))`` on a view (POSTs only
  by default) answers 429 with ``Retry-After`` once the limit is passed;
* ``check(request, "booking", account=user.pk)`` inside a view or service raises
  ``RateLimited``; ``RateLimitMiddleware`` turns it into the same 429 page;
* ``too_many_requests(request, exc)`` renders that page yourself (an API would send JSON
  with the same ``exc.retry_after`` instead).

When the cache is unreachable the limiter lets the request through (logged): a broken
cache must not lock every patient out of the clinic.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.template import loader

from uscpis.http import client_ip

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# settings.py imports parse_rate to validate the limits at start-up, so nothing here may
# need configured settings at import time (cache, templates and responses load lazily).

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    period: int  # seconds

    def __str__(self) -> str:
        return f"{self.count}/{self.period}s"


def parse_rate(value: str | None) -> Rate | None:
    """``"5/15m"`` → ``Rate(5, 900)``; ``None``, ``""`` or ``"off"`` → ``None`` (no limit)."""
    if value is None or str(value).strip().lower() in ("", "off", "none"):
        return None
    match = _RATE.match(str(value))
    if not match:
        raise ImproperlyConfigured(
            f"rate limit {value!r} must look like 5/m, 10/h or 30/15m (count/period)"
        )
    count, multiple, unit = match.groups()
    return Rate(int(count), int(multiple or 1) * _UNIT_SECONDS[unit])


class RateLimited(Exception):
    """Raised when a limit is passed. ``retry_after`` is whole seconds until it lifts."""

    def __init__(self, scope: str, retry_after: int):
        super().__init__(f"rate limit {scope!r} exceeded; retry after {retry_after}s")
        self.scope = scope
        self.retry_after = max(1, int(retry_after))


def rate_for(scope: str, kind: str) -> Rate | None:
    """The configured ``Rate`` for ``scope`` and ``kind`` (``"ip"``/``"account"``), or None."""
    limits = getattr(settings, "RATE_LIMITS", {}) or {}
    return parse_rate((limits.get(scope) or {}).get(kind))


def _subject_key(value: Any) -> str:
    # Emails and addresses are hashed: cache keys must not carry personal data.
    raw = str(value).strip().lower().encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


def hit(scope: str, kind: str, subject: Any, *, rate: Rate | None = None) -> None:
    """Count one attempt by ``subject`` in ``scope``; raise ``RateLimited`` past the limit."""
    rate = rate if rate is not None else rate_for(scope, kind)
    if rate is None or subject in (None, ""):
        return
    now = time.time()
    window = int(now // rate.period)
    retry_after = math.ceil((window + 1) * rate.period - now)
    if rate.count <= 0:
        raise RateLimited(scope, retry_after)

    namespace = getattr(settings, "RATE_LIMIT_NAMESPACE", "")
    key = f"rl:{namespace}:{scope}:{kind}:{_subject_key(subject)}:{rate.period}:{window}"
    try:
        # add() then incr(): atomic on Redis; good enough on the file cache.
        cache.add(key, 0, timeout=rate.period + 5)
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(key, 1, timeout=rate.period + 5)
        count = 1
    except Exception:
        logger.warning("rate limit %s not checked: cache unavailable", scope, exc_info=True)
        return
    if count > rate.count:
        raise RateLimited(scope, retry_after)


def check(request: HttpRequest | None, scope: str, *, account: Any = None) -> None:
    """Count one attempt per IP (when ``request`` is given) and per ``account``.

    Raises ``RateLimited`` when either limit for ``scope`` is passed.
    """
    if not getattr(settings, "RATE_LIMITS_ENABLED", True):
        return
    if request is not None:
        hit(scope, "ip", client_ip(request))
    if account not in (None, ""):
        hit(scope, "account", account)


def too_many_requests(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """The 429 page, with ``Retry-After``."""

    minutes = math.ceil(exc.retry_after / 60)
    wait = (
        f"{minutes} minute{'s' if minutes != 1 else ''}"
        if exc.retry_after >= 60
        else (f"{exc.retry_after} second{'s' if exc.retry_after != 1 else ''}")
    )
    body = loader.render_to_string("errors/429.html", {"wait": wait}, request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def rate_limited(
    scope: str,
    *,
    account: Callable[[HttpRequest], Any] | None = None,
    methods: Iterable[str] = ("POST",),
) -> Callable:
    """View decorator: count each ``methods`` request per IP and per ``account(request)``."""
    methods = {m.upper() for m in methods}

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                try:
                    check(request, scope, account=account(request) if account else None)
                except RateLimited as exc:
                    _log_refusal(request, exc)
                    return too_many_requests(request, exc)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class RateLimitMiddleware:
    """Turns a ``RateLimited`` raised anywhere in a view into the 429 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RateLimited):
            _log_refusal(request, exception)
            return too_many_requests(request, exception)
        return None


def _log_refusal(request: HttpRequest, exc: RateLimited) -> None:
    logger.info(
        "rate limit %s reached (retry after %ss) for %s", exc.scope, exc.retry_after, request.path
    )
