"""The API's sliding-window throttle (uscpis/api/throttles.py), with a fixed clock: the
previous window counts in proportion to how much of it is still within the last period, a
refused request is not counted, and Retry-After says when a request is allowed again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from uscpis.api.throttles import TokenRateThrottle

pytestmark = pytest.mark.django_db


def _throttle(settings, at: float) -> TokenRateThrottle:
    settings.API_RATE_USER = "3/min"
    throttle = TokenRateThrottle()
    throttle.timer = lambda: at
    return throttle


def _request(user_id=1):
    return SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=user_id), auth=None)


@pytest.fixture(params=["configured", "locmem"])
def any_cache(request, settings):
    """The configured cache (Redis: the pipelined path) and a cache without Redis."""
    if request.param == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


def test_sliding_window(settings, any_cache):
    start = 6_000_000 * 60.0  # the start of a one-minute window
    request = _request()
    allowed = [_throttle(settings, start + 30).allow_request(request, None) for _ in range(4)]
    assert allowed == [True, True, True, False]
    refused = _throttle(settings, start + 31)
    assert not refused.allow_request(request, None)
    assert refused.wait() == pytest.approx(29)  # the next window
    # Next window: the previous one's 3 weigh 3 × (1 − 20/60) = 2 twenty seconds in, so one
    # more fits ...
    assert not _throttle(settings, start + 70).allow_request(request, None)  # 1 + 2.5 > 3
    assert _throttle(settings, start + 80).allow_request(request, None)
    late = _throttle(settings, start + 81)
    assert not late.allow_request(request, None)  # ... and then 2 + 1.95 > 3
    # Refused requests were not counted: the next fits once 2/3 of the old window is gone.
    assert late.wait() == pytest.approx(40 - 21)
    assert _throttle(settings, start + 100).allow_request(request, None)
    # Two windows later the old requests are forgotten.
    assert all(_throttle(settings, start + 180).allow_request(request, None) for _ in range(3))
    # Each token or user is counted apart.
    assert _throttle(settings, start + 181).allow_request(_request(2), None)
