"""Shared web plumbing: the typed request, the HTMX render helper, response classes.

Pages are full templates; HTMX requests for a region get only the ``{% partialdef %}``
block named after the DOM id they replace (radiofeed ``partials.py`` style).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
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
    from django.shortcuts import redirect

    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(url)
    return redirect(url)


class HttpResponseConflict(HttpResponse):
    status_code = 409


class HttpResponseUnprocessable(HttpResponse):
    status_code = 422


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address as the front proxy saw it (first hop of X-Forwarded-For)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None
