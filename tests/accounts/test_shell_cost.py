"""What every signed-in page pays (issue 15): the user lookup, the CSP header, query counts."""

from __future__ import annotations

import pytest
from csp.utils import build_policy
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.backends import ModelBackend, load_user
from accounts.models import User
from accounts.roles import Role
from tests.conftest import login

pytestmark = pytest.mark.django_db

SHELL = "/__bench__/shell/"


@pytest.fixture
def shell_urls(settings):
    settings.ROOT_URLCONF = "uscpis.bench_urls"


def _fields(user):
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


def test_load_user_is_the_orm_user(doctor_user):
    loaded = load_user(doctor_user.pk)
    assert type(loaded) is User
    assert _fields(loaded) == _fields(User.objects.get(pk=doctor_user.pk))
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert load_user(str(doctor_user.pk)).pk == doctor_user.pk  # the session stores a string


def test_backend_get_user_missing_inactive_and_bad_ids(make_user):
    backend = ModelBackend()
    active = make_user(Role.NURSE)
    inactive = make_user(Role.NURSE, is_active=False)
    assert backend.get_user(active.pk) == active
    assert backend.get_user(inactive.pk) is None
    assert backend.get_user(999_999_999) is None
    assert backend.get_user("not-a-number") is None
    assert backend.get_user(None) is None


def test_changed_user_is_seen_on_the_next_request(client, make_user, shell_urls):
    """Nothing is cached across requests: a renamed, re-roled or deactivated user is seen at once."""
    user = make_user(Role.DOCTOR, first_name="Before")
    login(client, user)
    assert "Before" in client.get(SHELL).content.decode()
    User.objects.filter(pk=user.pk).update(first_name="After")
    assert "After" in client.get(SHELL).content.decode()
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = client.get(SHELL)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_password_change_elsewhere_signs_the_session_out(client, doctor_user, shell_urls):
    login(client, doctor_user)
    assert client.get(SHELL).status_code == 200
    doctor_user.set_password("a whole new passphrase 42")
    doctor_user.save()
    response = client.get(SHELL)
    assert response.status_code == 302
    assert SESSION_KEY not in client.session


def test_sign_in_through_the_form_uses_the_fast_backend(client, make_user):
    make_user(Role.NURSE, email="form.nurse@usc.edu.ph", password="correct horse battery 9")
    response = client.post(
        reverse("accounts:login"),
        {"username": "form.nurse@usc.edu.ph", "password": "correct horse battery 9"},
    )
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "accounts.backends.ModelBackend"
    assert client.get(reverse("accounts:home")).status_code == 200


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.FRONT_DESK, Role.PATIENT])
def test_shell_costs_one_query(client, make_user, shell_urls, role):
    """The signed-in layout with no content: the user row and nothing else (the session is
    read from the cache, the menu and layout links are worked out once per process)."""
    login(client, make_user(role))
    client.get(SHELL)  # warm: session cached, CSRF cookie set
    with CaptureQueriesContext(connection) as queries:
        response = client.get(SHELL)
    assert response.status_code == 200
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert "accounts_user" in queries.captured_queries[0]["sql"]


def test_csp_header_is_django_csps_policy(client, doctor_user, shell_urls):
    login(client, doctor_user)
    for response in (client.get(SHELL), Client().get(reverse("accounts:login"))):
        header = response["Content-Security-Policy"]
        # django-csp joins directives in set order: compare them as a set
        assert set(header.split("; ")) == set(build_policy().split("; "))
        assert "script-src 'self'" in header and "unsafe-inline" not in header


def test_csp_header_follows_settings_changes(client, settings):
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "img-src": ["'self'"]}
    }
    header = client.get(reverse("accounts:login"))["Content-Security-Policy"]
    assert "img-src 'self';" in header + ";" and "data:" not in header


def test_view_with_csp_update_keeps_its_own_policy(client):
    """ReDoc widens style-src with @csp_update: django-csp's own path still runs for it."""
    response = client.get(reverse("api-redoc"))
    assert response.status_code == 200
    header = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in header and "worker-src blob:" in header
    plain = client.get(reverse("accounts:login"))["Content-Security-Policy"]
    assert "'unsafe-inline'" not in plain and "worker-src" not in plain
