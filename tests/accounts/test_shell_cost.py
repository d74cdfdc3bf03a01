"""What every signed-in page pays (issue 15): the user lookup (cached, and never stale), the
CSP header, query counts."""

from __future__ import annotations

import pytest
from csp.utils import build_policy
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import backends
from accounts.backends import ModelBackend, cached_user, forget_all_users, load_user
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
    assert load_user(None) is None and load_user(10**9) is None
    from accounts.backends import _user_by_pk  # compiled (uscpis.compiled), not the ORM

    assert _user_by_pk(User).statement(doctor_user.pk)[1] == [doctor_user.pk]


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
    """The user row is cached between requests, but a renamed, re-roled or deactivated
    user (by ``save()`` or a bulk ``update()``) is seen on the very next request."""
    user = make_user(Role.DOCTOR, first_name="Before")
    login(client, user)
    assert "Before" in client.get(SHELL).content.decode()
    assert "Before" in client.get(SHELL).content.decode()  # now from the cache
    User.objects.filter(pk=user.pk).update(first_name="After")
    assert "After" in client.get(SHELL).content.decode()
    user.refresh_from_db()
    user.role = Role.NURSE
    user.save()
    assert "Signed in as nurse" in client.get(SHELL).content.decode()
    assert client.get(reverse("accounts:audit_list")).status_code == 403  # a nurse's rights
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = client.get(SHELL)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_cached_user_is_the_orm_user_without_its_password_in_the_cache(doctor_user):
    first = cached_user(doctor_user.pk)  # from the database, then cached
    with CaptureQueriesContext(connection) as queries:
        again = cached_user(str(doctor_user.pk))
    assert not queries.captured_queries
    assert _fields(first) == _fields(User.objects.get(pk=doctor_user.pk))
    assert again.get_session_auth_hash() == doctor_user.get_session_auth_hash()
    assert "password" in again.get_deferred_fields()
    assert again.password == doctor_user.password  # read from the database when asked
    entry = backends.cache.get(backends._keys(doctor_user.pk)[2])
    assert entry is not None and doctor_user.password not in repr(entry)


def test_row_read_before_a_change_is_never_served_after_it(doctor_user, monkeypatch):
    """A request that read the old row before a change committed stores it under the old
    version: the next request reads the database again."""
    epoch_key, version_key, row_key = backends._keys(doctor_user.pk)
    cached_user(doctor_user.pk)
    stale_entry = backends.cache.get(row_key)
    User.objects.filter(pk=doctor_user.pk).update(first_name="Changed")
    backends.cache.set(row_key, stale_entry, 60)  # the slow request stores the old row late
    assert cached_user(doctor_user.pk).first_name == "Changed"
    forget_all_users()  # a database restore replaced the table
    with CaptureQueriesContext(connection) as queries:
        cached_user(doctor_user.pk)
    assert len(queries.captured_queries) == 1


def test_unreachable_cache_falls_back_to_the_database(client, doctor_user, shell_urls, monkeypatch):
    login(client, doctor_user)
    assert client.get(SHELL).status_code == 200

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(backends.cache, "get_many", down)
    monkeypatch.setattr(backends.cache_reads, "get_many", down)  # its MGET without get_many
    monkeypatch.setattr(backends.cache, "set", down)
    assert cached_user(doctor_user.pk) == doctor_user
    doctor_user.first_name = "Renamed"
    doctor_user.save()  # invalidation fails quietly; the rows expire within ROW_TTL
    assert cached_user(doctor_user.pk).first_name == "Renamed"


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
def test_shell_costs_no_query(client, make_user, shell_urls, role):
    """The signed-in layout with no content: no query at all once warm (the session and the
    user row are read from the cache, the menu and layout links are worked out once per
    process); the first request after a change reads the user row."""
    user = make_user(role)
    login(client, user)
    client.get(SHELL)  # warm: session and user cached, CSRF cookie set
    with CaptureQueriesContext(connection) as queries:
        response = client.get(SHELL)
    assert response.status_code == 200
    assert not queries.captured_queries, [q["sql"] for q in queries.captured_queries]
    User.objects.filter(pk=user.pk).update(first_name="Changed")
    with CaptureQueriesContext(connection) as queries:
        assert "Changed" in client.get(SHELL).content.decode()
    assert len(queries.captured_queries) == 1
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


def test_views_get_the_user_itself_not_lazy_wrappers(client, make_user, shell_urls):
    """The idle-timeout middleware takes off both lazy layers (OTP's and authentication's):
    every later read of ``request.user`` is a plain attribute read, and OTP's fields work."""
    user = make_user(Role.ADMIN)
    login(client, user)  # two-factor verified
    request = client.get(SHELL).wsgi_request
    assert type(request.user) is User and request.user.pk == user.pk
    assert request.user.is_verified() and request.user.otp_device is not None
    doctor = make_user(Role.DOCTOR)
    login(client, doctor)
    request = client.get(SHELL).wsgi_request
    assert type(request.user) is User and request.user.pk == doctor.pk
    assert not request.user.is_verified() and request.user.otp_device is None
