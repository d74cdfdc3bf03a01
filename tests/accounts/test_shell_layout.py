"""The signed-in layout drawn from cached parts (``signed_in_layout``, ``navigation``) is the
markup the plain templates write, for every role and highlighted entry; the CSRF mask and
the request id keep Django's formats; the headers every kind of response carries."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from csp.utils import build_policy
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage import default_storage
from django.middleware.csrf import _unmask_cipher_token
from django.template import Context, Engine, RequestContext, Template
from django.template.loader import render_to_string
from django.template.loader_tags import ExtendsNode
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.context_processors import navigation
from accounts.roles import Role
from accounts.services import api_token_create
from tests.conftest import login
from uscpis import csrf
from uscpis.middleware import new_request_id

pytestmark = pytest.mark.django_db

SHELL = "/__bench__/shell/"
TOKEN = re.compile(r"[A-Za-z0-9]{64}")

# base.html as it was written before the layout was cached: the two parts rendered by
# including their templates around {% csrf_token %}, the user's fields read from the user,
# and the messages included from _messages.html.
PLAIN_BASE = (
    (settings.BASE_DIR / "templates" / "base.html")
    .read_text()
    .replace(
        "{% signed_in_layout %}",
        '{% with u=user %}{% include "_layout_top.html" %}{% csrf_token %}'
        '{% include "_layout_bottom.html" %}{% endwith %}',
    )
    .replace("{% page_messages %}", '{% include "_messages.html" %}')
)


@pytest.fixture
def shell_urls(settings):
    settings.ROOT_URLCONF = "uscpis.bench_urls"


def _request(user, path, notes=()):
    request = RequestFactory().get(path)
    request.user = user
    request.session = {}
    request._messages = default_storage(request)
    for level, text in notes:
        messages.add_message(request, level, text)
    return request


def _cached(user, path, notes=()):
    return render_to_string("bench/shell.html", {}, request=_request(user, path, notes))


# The page's own template rendered by Django's {% extends %} (the project's engine has
# uscpis.template_extends as a builtin, which remembers the parent's blocks), with the
# project's templates and context processors.
DJANGO_EXTENDS = Engine(
    dirs=settings.TEMPLATES[0]["DIRS"],
    app_dirs=True,
    context_processors=settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
)


def _plain(user, path, notes=()):
    parent = Template(PLAIN_BASE)
    child = DJANGO_EXTENDS.from_string(
        "{% extends parent %}{% block title %}Shell{% endblock %}{% block content %}{% endblock %}"
    )
    return child.render(RequestContext(_request(user, path, notes), {"parent": parent}))


def test_plain_base_is_the_old_one():
    assert PLAIN_BASE.count('{% include "_messages.html" %}') == 2
    assert "{% signed_in_layout" not in PLAIN_BASE and "{% page_messages" not in PLAIN_BASE
    plain_child = DJANGO_EXTENDS.from_string("{% extends parent %}")
    assert type(plain_child.nodelist[0]) is ExtendsNode  # Django's own render


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    "path", ["/", SHELL, "/inventory/expiry/", "/patients/", "/accounts/users/", "/nowhere/"]
)
def test_cached_layout_is_the_plain_templates_markup(make_user, role, path):
    user = make_user(role, first_name="Ana <b>", last_name="O'Neil & Co")
    for _ in range(2):  # the first render fills the cache, the second reads it
        cached, plain = _cached(user, path), _plain(user, path)
        assert TOKEN.sub("<token>", cached) == TOKEN.sub("<token>", plain)
    assert "Ana &lt;b&gt;" in cached and "O&#x27;Neil &amp; Co" in cached


@pytest.mark.parametrize("signed_in", [True, False])
def test_messages_are_written_as_messages_html_writes_them(make_user, signed_in):
    user = make_user(Role.NURSE) if signed_in else AnonymousUser()
    notes = [(messages.SUCCESS, "Saved <b>"), (messages.ERROR, "Not & saved")]
    cached, plain = _cached(user, SHELL, notes), _plain(user, SHELL, notes)
    assert TOKEN.sub("<token>", cached) == TOKEN.sub("<token>", plain)
    assert 'class="alert alert-success">Saved &lt;b&gt;</div>' in cached
    assert 'class="alert alert-error">Not &amp; saved</div>' in cached


def test_no_messages_markup_follows_the_template(doctor_user, settings):
    """The markup for no messages is remembered, and forgotten with the settings (tests
    that change templates)."""
    from accounts.templatetags import uscpis as tags

    _cached(doctor_user, SHELL)
    assert tags._no_messages == {"html": "\n"}
    settings.MESSAGE_LEVEL = 10  # any settings change
    assert tags._no_messages == {}


def test_each_request_gets_its_own_token_in_both_places(doctor_user):
    first, second = _cached(doctor_user, SHELL), _cached(doctor_user, SHELL)
    tokens = [TOKEN.findall(html) for html in (first, second)]
    assert [len(t) for t in tokens] == [2, 2]
    assert tokens[0][0] == tokens[0][1] and tokens[1][0] == tokens[1][1]  # hx-headers, form
    assert tokens[0][0] != tokens[1][0]


def test_changed_user_and_highlighted_entry_are_new_entries(make_user, inventory_user):
    assert 'href="/inventory/expiry/" class="active"' in _cached(
        inventory_user, "/inventory/expiry/"
    )
    assert 'href="/inventory/" class="active"' in _cached(inventory_user, "/inventory/lots/")
    inventory_user.first_name = "Renamed"
    inventory_user.role = Role.NURSE
    html = _cached(inventory_user, "/inventory/")
    assert "Renamed" in html and "Signed in as nurse" in html


def test_menu_is_shared_but_names_its_highlighted_entry(rf, inventory_user):
    request = rf.get(reverse("inventory:expiry"))
    request.user = inventory_user
    first, second = navigation(request), navigation(request)
    assert first["nav_items"] is second["nav_items"]  # one per role, links and entry
    assert first["nav_key"][1] == Role.INVENTORY_MANAGER
    active = [i for i in first["nav_items"] if i["active"]]
    assert [i["label"] for i in active] == ["Expiry"]
    assert first["nav_items"][first["nav_key"][2]]["label"] == "Expiry"


def test_context_without_the_menus_key_is_rendered_afresh(doctor_user):
    context = Context(
        {
            "user": doctor_user,
            "layout": {"home": "/home-elsewhere/"},
            "nav_items": [{"label": "Only", "url": "/only/", "active": True}],
            "csrf_token": "t" * 64,
        }
    )
    html = Template("{% load uscpis %}{% signed_in_layout %}").render(context)
    assert 'href="/home-elsewhere/"' in html and ">Only</a>" in html
    assert 'name="csrfmiddlewaretoken" value="' + "t" * 64 + '"' in html


# --- CSRF mask and request id ---------------------------------------------------------


def test_random_chars_skip_the_bytes_that_would_favour_some_characters(monkeypatch):
    draws = iter([bytes([255, 248, 0, 61, 62, 247] * 2), bytes(range(40))])
    monkeypatch.setattr(csrf.os, "urandom", lambda n: next(draws))
    chars = csrf.CSRF_ALLOWED_CHARS
    # 255 and 248 are dropped; 0, 61, 62 and 247 are chars[0], [61], [0] and [247 % 62]
    expected = (chars[0] + chars[61] + chars[0] + chars[247 % 62]) * 2 + chars[0:2]
    assert csrf.random_chars(10) == expected


def test_masked_token_is_djangos_cipher_of_the_secret(monkeypatch):
    chars = csrf.CSRF_ALLOWED_CHARS
    secret = csrf.random_chars(32)
    mask = csrf.random_chars(32)
    monkeypatch.setattr(csrf, "random_chars", lambda length: mask)
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = secret
    token = csrf.masked_token(request)
    expected = "".join(
        chars[(chars.index(s) + chars.index(m)) % len(chars)]
        for s, m in zip(secret, mask, strict=True)
    )
    assert token == mask + expected and _unmask_cipher_token(token) == secret


def test_request_id_is_uuid4_hex_of_the_same_random_bytes(monkeypatch):
    for _ in range(200):
        drawn = os.urandom(16)
        monkeypatch.setattr(os, "urandom", lambda n, drawn=drawn: drawn)
        assert new_request_id() == uuid.UUID(bytes=drawn, version=4).hex
        monkeypatch.undo()


# --- Headers of every kind of response ------------------------------------------------


def _policy_set(header: str) -> set[str]:
    return set(header.split("; "))  # django-csp joins directives in set order


BROWSER_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.parametrize(
    ("kind", "path", "headers", "status"),
    [
        ("html", SHELL, {}, 200),
        ("htmx", SHELL, {"HX-Request": "true"}, 200),
        ("poll", reverse("accounts:notification_bell"), {"HX-Request": "true", "X-Poll": "1"}, 200),
        ("error", "/no/such/page/", {}, 404),
        ("forbidden", reverse("accounts:audit_list"), {}, 403),
    ],
)
def test_signed_in_responses_carry_every_header(
    client, doctor_user, shell_urls, kind, path, headers, status
):
    login(client, doctor_user)
    response = client.get(path, headers=headers)
    assert response.status_code == status
    _assert_every_header(response)


def _assert_every_header(response):
    for name, value in BROWSER_HEADERS.items():
        assert response[name] == value, name
    assert _policy_set(response["Content-Security-Policy"]) == _policy_set(build_policy())
    assert response["Cache-Control"] == "no-store, private" and response["Pragma"] == "no-cache"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert uuid.UUID(hex=response["X-Request-ID"]).version == 4


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/appointment-types/", 200), ("/api/v1/appointment-types/999999999/", 404)],
)
def test_api_responses_carry_every_header(doctor_user, path, status):
    _, secret = api_token_create(actor=doctor_user, name="headers", scope="read")
    response = Client(headers={"Authorization": f"Token {secret}"}).get(path)
    assert response.status_code == status
    _assert_every_header(response)


def test_request_id_from_the_proxy_is_kept_when_sane(client):
    kept = client.get(reverse("accounts:login"), headers={"X-Request-ID": "edge-42.a_b"})
    assert kept["X-Request-ID"] == "edge-42.a_b"
    replaced = client.get(reverse("accounts:login"), headers={"X-Request-ID": "bad id;"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def test_anonymous_pages_are_not_marked_no_store_but_keep_browser_headers():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert "Cache-Control" not in response and "Pragma" not in response
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    for name, value in BROWSER_HEADERS.items():
        assert response[name] == value, name


def test_polling_is_not_activity_but_a_page_is(client, doctor_user, shell_urls):
    """``X-Poll`` (read from ``request.META``) keeps the bell from renewing the session."""
    login(client, doctor_user)
    client.get(SHELL)
    session = client.session
    session["last_activity"] = int(time.time()) - 60  # idle a minute: renewable, not expired
    session.save()
    before = client.session["last_activity"]
    client.get(reverse("accounts:notification_bell"), headers={"X-Poll": "1"})
    assert client.session["last_activity"] == before
    client.get(SHELL)
    assert client.session["last_activity"] > before
