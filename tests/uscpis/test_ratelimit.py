"""The shared rate limiter: counting per IP and per account, the 429 page, settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory

from uscpis import ratelimit
from uscpis.ratelimit import RateLimited, check, parse_rate, rate_limited


def test_parse_rate():
    assert parse_rate("5/m") == ratelimit.Rate(5, 60)
    assert parse_rate("30/15m") == ratelimit.Rate(30, 900)
    assert parse_rate("3/h") == ratelimit.Rate(3, 3600)
    assert parse_rate("off") is None
    assert parse_rate("") is None
    with pytest.raises(ImproperlyConfigured):
        parse_rate("five per minute")


def test_settings_reject_a_malformed_limit(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "uscpis.settings",
            "RATE_LIMIT_SIGNUP_IP": "lots",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "RATE_LIMIT_SIGNUP_IP" in result.stderr


def _request(ip="203.0.113.9", method="post"):
    return getattr(RequestFactory(), method)("/x/", REMOTE_ADDR=ip)


def test_per_ip_limit_then_429_with_retry_after(settings):
    settings.RATE_LIMITS = {"demo": {"ip": "3/h"}}
    for _ in range(3):
        check(_request(), "demo")
    with pytest.raises(RateLimited) as exc:
        check(_request(), "demo")
    assert 0 < exc.value.retry_after <= 3600
    # another address is counted separately
    check(_request(ip="203.0.113.10"), "demo")


def test_per_account_limit_counts_across_addresses(settings):
    settings.RATE_LIMITS = {"demo": {"ip": "100/h", "account": "2/h"}}
    check(_request(ip="198.51.100.1"), "demo", account="A@usc.edu.ph")
    check(_request(ip="198.51.100.2"), "demo", account="a@usc.edu.ph")  # same mailbox
    with pytest.raises(RateLimited):
        check(_request(ip="198.51.100.3"), "demo", account="a@usc.edu.ph")
    check(_request(ip="198.51.100.3"), "demo", account="b@usc.edu.ph")


def test_disabled_and_missing_limits_let_everything_through(settings):
    settings.RATE_LIMITS = {"demo": {"ip": "off"}}
    for _ in range(20):
        check(_request(), "demo")
    settings.RATE_LIMITS = {"demo": {"ip": "1/h"}}
    settings.RATE_LIMITS_ENABLED = False
    for _ in range(5):
        check(_request(), "demo")


@pytest.mark.django_db
def test_decorator_answers_the_429_page(settings):
    settings.RATE_LIMITS = {"demo": {"ip": "2/m"}}

    @rate_limited("demo")
    def view(request):
        return HttpResponse("ok")

    assert view(_request(method="get")).status_code == 200  # GETs are not counted
    assert view(_request()).status_code == 200
    assert view(_request()).status_code == 200
    response = view(_request())
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Too many attempts" in response.content.decode()


def test_unreachable_cache_lets_the_request_through(settings, monkeypatch):
    settings.RATE_LIMITS = {"demo": {"ip": "1/h"}}
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken)
    for _ in range(3):
        check(_request(), "demo")
