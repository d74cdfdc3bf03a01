"""uscpis.csrf: the pages' csrf_token is Django's token (same secret, same cipher), masked
with uniformly random characters, and forms posted with it pass CSRF checks."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH,
    CSRF_TOKEN_LENGTH,
    _unmask_cipher_token,
)
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.factories import TEST_PASSWORD
from uscpis.csrf import CsrfToken, csrf, masked_token, random_chars

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"')


def test_random_chars_are_allowed_chars_of_the_length_asked():
    for length in (1, 32, 100):
        value = random_chars(length)
        assert len(value) == length and set(value) <= set(CSRF_ALLOWED_CHARS)


def test_random_chars_use_every_character_about_equally():
    counts = Counter(random_chars(62 * 500))
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    # 500 expected each; a character favoured by byte % 62 would get ~516 (1/248 vs 1/256
    # is 3%): far inside these bounds, so this only catches a broken draw, not that bias.
    assert all(350 < n < 650 for n in counts.values())


def test_token_unmasks_to_the_cookie_secret_and_flags_the_cookie():
    request = RequestFactory().get("/")
    secret = random_chars(CSRF_SECRET_LENGTH)
    request.META["CSRF_COOKIE"] = secret
    first, second = masked_token(request), masked_token(request)
    assert len(first) == CSRF_TOKEN_LENGTH and set(first) <= set(CSRF_ALLOWED_CHARS)
    assert first != second  # a fresh mask each time (BREACH)
    assert _unmask_cipher_token(first) == _unmask_cipher_token(second) == secret
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True


def test_a_first_visit_gets_a_new_secret_as_django_makes_it():
    request = RequestFactory().get("/")
    token = masked_token(request)
    secret = request.META["CSRF_COOKIE"]
    assert len(secret) == CSRF_SECRET_LENGTH and set(secret) <= set(CSRF_ALLOWED_CHARS)
    assert _unmask_cipher_token(token) == secret
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True


def test_the_token_is_masked_only_when_shown_and_then_is_one_string():
    from django.template import Context, RequestContext, Template
    from django.utils.functional import LazyObject
    from django.utils.html import conditional_escape, format_html

    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = random_chars(CSRF_SECRET_LENGTH)
    unused = Template("{% if user %}{% endif %}no token here")
    assert unused.render(RequestContext(request, processors=[csrf])) == "no token here"
    assert "CSRF_COOKIE_NEEDS_UPDATE" not in request.META  # nothing shown: no cookie to send
    token = csrf(request)["csrf_token"]
    assert isinstance(token, CsrfToken) and not isinstance(token, LazyObject)
    shown = Template(
        "{{ csrf_token }}|{% csrf_token %}|{{ csrf_token|upper }}|{{ csrf_token|length }}"
    ).render(Context({"csrf_token": token}))
    value = str(token)
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True
    assert _unmask_cipher_token(value) == request.META["CSRF_COOKIE"]
    assert shown == (
        f'{value}|<input type="hidden" name="csrfmiddlewaretoken" value="{value}">'
        f"|{value.upper()}|{CSRF_TOKEN_LENGTH}"
    )
    # As Django's lazy token answers: the same string wherever and however it is asked.
    assert token == value and value == token and token != "NOTPROVIDED" and bool(token)
    assert conditional_escape(token) == value and hash(token) == hash(value)
    assert format_html("<i>{}</i>", token) == f"<i>{value}</i>"
    assert token.startswith(value[:5]) and len(token) == CSRF_TOKEN_LENGTH


@pytest.mark.django_db
def test_the_rendered_token_signs_in_and_a_wrong_one_is_refused(nurse_user):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("accounts:login"))
    token = TOKEN.search(page.content.decode()).group(1)
    cookie = page.cookies["csrftoken"].value
    assert _unmask_cipher_token(token) == cookie
    form = {"username": nurse_user.email, "password": TEST_PASSWORD}
    forged = "A" * CSRF_TOKEN_LENGTH
    refused = client.post(reverse("accounts:login"), {**form, "csrfmiddlewaretoken": forged})
    assert refused.status_code == 403
    response = client.post(reverse("accounts:login"), {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_signed_in_layout_carries_the_token_for_htmx(client_for, nurse_user, monkeypatch):
    client = client_for(nurse_user)
    client.get(reverse("accounts:home"))  # the CSRF cookie

    def django_mask(secret):
        raise AssertionError("the layout's token must come from uscpis.csrf")

    monkeypatch.setattr("django.middleware.csrf._mask_cipher_secret", django_mask)
    html = client.get(reverse("accounts:home")).content.decode()
    header = re.search(r'"X-CSRFToken": "([A-Za-z0-9]{64})"', html).group(1)
    form = TOKEN.search(html).group(1)  # the sign-out form
    secret = client.cookies["csrftoken"].value
    assert _unmask_cipher_token(header) == _unmask_cipher_token(form) == secret


def _sent_csrf_cookie(response):
    morsel = response.cookies.get("csrftoken")
    return morsel.value if morsel is not None and morsel.value else None


@pytest.mark.django_db
def test_the_cookie_is_sent_when_new_or_changed_and_not_again_unchanged(nurse_user):
    client = Client(enforce_csrf_checks=True)
    first = client.get(reverse("accounts:login"))
    secret = _sent_csrf_cookie(first)
    assert secret and len(secret) == CSRF_SECRET_LENGTH  # a first visit gets the cookie
    token = TOKEN.search(first.content.decode()).group(1)

    form = {"username": nurse_user.email, "password": TEST_PASSWORD}
    signed_in = client.post(reverse("accounts:login"), {**form, "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302
    rotated = _sent_csrf_cookie(signed_in)
    assert rotated and rotated != secret  # a sign-in rotates the secret, and sends it

    for _ in range(2):
        home = client.get(reverse("accounts:home"))
        assert home.status_code == 200
        assert _sent_csrf_cookie(home) is None  # the browser holds this secret already
        assert "Cookie" in home["Vary"]
    html = home.content.decode()
    header = re.search(r'"X-CSRFToken": "([A-Za-z0-9]{64})"', html).group(1)
    assert _unmask_cipher_token(header) == rotated  # the page still uses that secret
    # ...and a form posted with the page's token passes the check (sign out)
    out = client.post(
        reverse("accounts:logout"), {"csrfmiddlewaretoken": TOKEN.search(html).group(1)}
    )
    assert out.status_code == 302


@pytest.mark.django_db
def test_a_missing_malformed_or_old_format_cookie_is_sent(client_for, nurse_user):
    client = client_for(nurse_user)
    fresh = _sent_csrf_cookie(client.get(reverse("accounts:home")))
    assert fresh and len(fresh) == CSRF_SECRET_LENGTH  # none came in: a new one

    client.cookies["csrftoken"] = "not a secret!"
    replaced = _sent_csrf_cookie(client.get(reverse("accounts:home")))
    assert replaced and len(replaced) == CSRF_SECRET_LENGTH and replaced != fresh

    # a cookie from before Django 4 held a masked token: the page unmasks and re-sends it
    secret = random_chars(CSRF_SECRET_LENGTH)
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = secret
    client.cookies["csrftoken"] = masked_token(request)
    assert _sent_csrf_cookie(client.get(reverse("accounts:home"))) == secret
    assert _sent_csrf_cookie(client.get(reverse("accounts:home"))) is None
