"""Shared web plumbing: the typed request, the HTMX render helper, response classes.

Pages are full templates; HTMX requests for a region get only the ``{% partialdef %}``
block named after the DOM id they replace (radiofeed ``partials.py`` style).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import User


class Request(HttpRequest):
    """What our views receive: the signed-in user and django-htmx's details."""

    user: User
    htmx: HtmxDetails
    request_id: str


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``template``; for an HTMX request render only ``template#partial``.

    The same view serves the whole page (plain request, works without JavaScript) and the
    region it refreshes (HTMX request).
    """
    htmx = getattr(request, "htmx", None)
    if partial and htmx and not htmx.boosted:
        template = f"{template}#{partial}"
    return render(request, template, context or {}, status=status)


def redirect_htmx_aware(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful write: a plain redirect, or ``HX-Redirect`` for HTMX."""

    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(url)
    return redirect(url)


class HttpResponseConflict(HttpResponse):
    status_code = 409


class HttpResponseUnprocessable(HttpResponse):
    status_code = 422


def client_ip(request: HttpRequest) -> str | None:
    """The caller's IP address, as the outermost trusted proxy saw it; ``None`` if unknown.

    Behind ``TRUSTED_PROXY_COUNT`` proxies, each appends the address it received the request
    from to ``X-Forwarded-For``, so the client is the entry that many places from the right;
    anything to its left was sent by the client and is ignored. With no trusted proxy (the
    development default) the header is ignored altogether. A missing or malformed hop falls
    back to ``REMOTE_ADDR``; the result is always a valid, normalised address or ``None``,
    never free text (it goes into the audit trail and is the lockout key for django-axes,
    ``AXES_CLIENT_IP_CALLABLE``).
    """

    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= proxies:
            address = _parse_ip(hops[-proxies])
            if address is not None:
                return address
    return _parse_ip(request.META.get("REMOTE_ADDR", ""))


@lru_cache(maxsize=1024)
def _parse_ip(value: str) -> str | None:
    """``value`` as a normalised IP address (a port or IPv6 brackets removed), else ``None``.

    Remembered per text: every request parses its caller's address, and a few addresses
    (the proxy's, the busiest clients') make most requests."""

    value = (value or "").strip()
    candidates = [value]
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        candidates.append(value[1 : value.index("]")])
    elif value.count(":") == 1:  # 203.0.113.7:51234
        candidates.append(value.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
