"""Sessions keep working while the cache (Redis) is unreachable."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.fixture(autouse=True)
def _our_session_engine(settings):
    settings.SESSION_ENGINE = "accounts.sessions"  # what REDIS_URL selects


def test_signed_in_pages_render_with_the_cache_down(client_for, nurse_user):
    client = client_for(nurse_user)
    assert client.get(reverse("accounts:home")).status_code == 200
    with override_settings(CACHES=DEAD_REDIS):
        for url in (
            reverse("accounts:home"),
            reverse("accounts:notifications"),
            reverse("accounts:preferences"),
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            assert nurse_user.email in response.content.decode()
        # Writes to the session (a message after saving preferences) land in the database.
        response = client.post(
            reverse("accounts:preferences"), {"email_notifications": ""}, follow=True
        )
        assert response.status_code == 200 and "Preferences saved" in response.content.decode()
        key = client.session.session_key
        assert client.post(reverse("accounts:logout")).status_code == 302
        assert not Session.objects.filter(session_key=key).exists()
        assert client.get(reverse("accounts:home")).status_code == 302


def test_signing_in_works_with_the_cache_down(nurse_user):
    client = Client()
    with override_settings(CACHES=DEAD_REDIS):
        response = client.post(
            reverse("accounts:login"), {"username": nurse_user.email, "password": TEST_PASSWORD}
        )
        assert response.status_code == 302
        assert client.get(reverse("accounts:home")).status_code == 200


def test_the_cache_is_still_used_when_it_is_up(client_for, nurse_user):
    from django.core.cache import cache

    from accounts.sessions import SessionStore

    client = client_for(nurse_user)
    client.get(reverse("accounts:home"))
    key = client.session.session_key
    assert cache.get(SessionStore.cache_key_prefix + key) is not None
