"""uscpis.messages: Django's message storage with the cookie signer built only when used."""

from __future__ import annotations

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.contrib.messages.storage import default_storage
from django.contrib.messages.storage.cookie import CookieStorage as DjangoCookieStorage
from django.http import HttpResponse
from django.test import RequestFactory

from uscpis.messages import CookieStorage, FallbackStorage


def _request(cookies=None):
    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    request.session = {}
    return request


def test_default_storage_is_ours_and_builds_no_signer_without_a_cookie():
    request = _request()
    storage = default_storage(request)
    assert type(storage) is FallbackStorage
    assert list(storage) == []
    assert "signer" not in storage.storages[0].__dict__  # never built


def test_a_message_round_trips_through_the_signed_cookie():
    first = _request()
    first._messages = default_storage(first)
    messages.success(first, "Saved <b>")
    response = HttpResponse()
    first._messages.update(response)
    cookie = response.cookies[CookieStorage.cookie_name].value
    # Django's own cookie storage reads what ours wrote: same key salt, same signature.
    assert [str(m) for m in DjangoCookieStorage(_request({CookieStorage.cookie_name: cookie}))] == [
        "Saved <b>"
    ]
    second = _request({CookieStorage.cookie_name: cookie})
    second._messages = default_storage(second)
    assert [str(m) for m in get_messages(second)] == ["Saved <b>"]


def test_a_tampered_cookie_is_refused():
    first = _request()
    first._messages = default_storage(first)
    messages.info(first, "hello")
    response = HttpResponse()
    first._messages.update(response)
    cookie = response.cookies[CookieStorage.cookie_name].value
    forged = cookie.replace("hello", "HELLO") if "hello" in cookie else cookie[:-2] + "xx"
    storage = default_storage(_request({CookieStorage.cookie_name: forged}))
    assert list(storage) == []


@pytest.mark.django_db
def test_a_message_after_a_post_shows_on_the_next_page(client_for, nurse_user):
    from django.urls import reverse

    client = client_for(nurse_user)
    response = client.post(
        reverse("accounts:preferences"), {"email_notifications": ""}, follow=True
    )
    assert response.status_code == 200 and "Preferences saved" in response.content.decode()
