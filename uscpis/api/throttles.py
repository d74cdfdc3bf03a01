"""Request limits per token (or signed-in user) and per anonymous IP, counted in the shared
cache (Redis in production) so every web process sees the same counts. Over the limit:
429 with ``Retry-After``. Rates come from settings (``API_RATE_USER``, ``API_RATE_ANON``)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from uscpis.http import client_ip


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self):
        return getattr(settings, "API_RATE_USER", "600/min")

    def get_cache_key(self, request, view):
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return None
        token = getattr(request, "auth", None)
        ident = f"t{token.uid}" if getattr(token, "uid", None) else f"u{user.pk}"
        return f"api-throttle:{self.scope}:{ident}"


class AnonIpRateThrottle(SimpleRateThrottle):
    scope = "anon_ip"

    def get_rate(self):
        return getattr(settings, "API_RATE_ANON", "30/min")

    def get_cache_key(self, request, view):
        if getattr(request.user, "is_authenticated", False):
            return None
        return f"api-throttle:{self.scope}:{client_ip(request) or 'unknown'}"
