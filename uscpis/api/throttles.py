"""Request limits per token (or signed-in user) and per anonymous IP, counted in the shared
cache (Redis in production) so every web process sees the same counts. Over the limit:
429 with ``Retry-After``. Rates come from settings (``API_RATE_USER``, ``API_RATE_ANON``).

A sliding-window counter: the requests of the current fixed window plus those of the previous
window weighted by how much of it still lies within the last period. In Redis that is one
round trip per request (INCR and EXPIRE of this window's counter and GET of the previous one,
pipelined) whatever the rate, where DRF's own throttle reads and rewrites the list of every
request's timestamp in the period (two round trips, and up to a rate's worth of floats).
A refused request is not counted.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from uscpis import cache_reads
from uscpis.http import client_ip


def _count(cache, current: str, previous: str, ttl: int) -> tuple[int, int]:
    """Add one to ``current``; return it and ``previous`` (0 when missing)."""
    if isinstance(cache, RedisCache):
        keys = [cache.make_key(k) for k in (current, previous)]  # ours: nothing to warn of
        replies = cache_reads.execute_many(
            cache, [(b"INCR", keys[0]), (b"EXPIRE", keys[0], ttl), (b"GET", keys[1])]
        )
        if replies is not None:
            return int(replies[0]), int(replies[2] or 0)
        pipe = cache._cache.get_client(keys[0], write=True).pipeline(transaction=False)
        pipe.incr(keys[0])
        pipe.expire(keys[0], ttl)
        pipe.get(keys[1])
        count, _, before = pipe.execute()
        return int(count), int(before or 0)
    try:
        count = cache.incr(current)
    except ValueError:
        count = 1 if cache.add(current, 1, ttl) else cache.incr(current)
    return count, int(cache.get(previous) or 0)


def _uncount(cache, current: str) -> None:
    try:
        cache.decr(current)
    except ValueError:  # expired meanwhile
        pass


class WindowRateThrottle(SimpleRateThrottle):
    @property
    def cache(self):
        """The default cache itself (``django.core.cache.cache`` is a proxy to it, which
        would hide that it is Redis)."""
        return caches["default"]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window, into = divmod(self.now, self.duration)
        current, previous = f"{self.key}:{int(window)}", f"{self.key}:{int(window) - 1}"
        count, before = _count(self.cache, current, previous, 2 * self.duration)
        weight = 1 - into / self.duration
        if count + before * weight <= self.num_requests:
            return True
        _uncount(self.cache, current)
        # Free again once enough of the previous window has slid out, else next window.
        room = self.num_requests - (count - 1) - 1
        if before and room >= 0:
            self.retry_after = max(1.0, (1 - room / before) * self.duration - into)
        else:
            self.retry_after = max(1.0, self.duration - into)
        return False

    def wait(self):
        return getattr(self, "retry_after", None)


class TokenRateThrottle(WindowRateThrottle):
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


class AnonIpRateThrottle(WindowRateThrottle):
    scope = "anon_ip"

    def get_rate(self):
        return getattr(settings, "API_RATE_ANON", "30/min")

    def get_cache_key(self, request, view):
        if getattr(request.user, "is_authenticated", False):
            return None
        return f"api-throttle:{self.scope}:{client_ip(request) or 'unknown'}"
