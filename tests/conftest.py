"""Shared test fixtures: one persona per role, signed-in clients, Celery in eager mode.

Admins must use two-factor authentication, so ``login(client, admin)`` also marks the
session as verified with a confirmed TOTP device.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks enqueued in tests run inline (after commit, where the test captures it)."""
    from uscpis.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a per-test folder, never to var/ or the network."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media-not-public/"},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _rate_limits_per_test(settings):
    """Each test counts its own attempts: rate-limit keys get a fresh namespace per test."""
    import uuid

    settings.RATE_LIMIT_NAMESPACE = uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _clinic_figures_per_test(settings):
    """Shared dashboard figures (uscpis.registry.clinic_figure) are cached per test."""
    import uuid

    settings.CLINIC_FIGURE_NAMESPACE = uuid.uuid4().hex
    settings.ANALYTICS_CACHE_NAMESPACE = uuid.uuid4().hex  # the analytics page cache


@pytest.fixture(autouse=True)
def _user_cache_per_test(settings):
    """The signed-in user cache (accounts.backends) is per test: ids repeat across runs."""
    import uuid

    settings.USER_CACHE_NAMESPACE = uuid.uuid4().hex


def login(client: Client, user) -> Client:
    """Sign ``user`` in on ``client`` (two-factor verified for admins)."""
    client.force_login(user)
    if user.requires_two_factor:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def make_user(db):
    def make(role: str = Role.PATIENT, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user(
        Role.ADMIN, email="admin.persona@usc.edu.ph", first_name="Ada", last_name="Admin"
    )


@pytest.fixture
def doctor_user(make_user):
    return make_user(
        Role.DOCTOR, email="doctor.persona@usc.edu.ph", first_name="Doc", last_name="Tor"
    )


@pytest.fixture
def dentist_user(make_user):
    return make_user(
        Role.DENTIST, email="dentist.persona@usc.edu.ph", first_name="Den", last_name="Tist"
    )


@pytest.fixture
def nurse_user(make_user):
    return make_user(
        Role.NURSE, email="nurse.persona@usc.edu.ph", first_name="Nora", last_name="Nurse"
    )


@pytest.fixture
def front_desk_user(make_user):
    return make_user(
        Role.FRONT_DESK, email="desk.persona@usc.edu.ph", first_name="Fran", last_name="Desk"
    )


@pytest.fixture
def inventory_user(make_user):
    return make_user(
        Role.INVENTORY_MANAGER,
        email="stock.persona@usc.edu.ph",
        first_name="Ivan",
        last_name="Stock",
    )


@pytest.fixture
def billing_user(make_user):
    return make_user(
        Role.BILLING_CLERK, email="billing.persona@usc.edu.ph", first_name="Bill", last_name="Clerk"
    )


@pytest.fixture
def patient_user(make_user):
    return make_user(
        Role.PATIENT, email="student.persona@usc.edu.ph", first_name="Pat", last_name="Student"
    )


@pytest.fixture
def other_patient_user(make_user):
    return make_user(
        Role.PATIENT, email="other.persona@usc.edu.ph", first_name="Otto", last_name="Other"
    )


ROLE_FIXTURES = {
    Role.ADMIN: "admin_user",
    Role.DOCTOR: "doctor_user",
    Role.DENTIST: "dentist_user",
    Role.NURSE: "nurse_user",
    Role.FRONT_DESK: "front_desk_user",
    Role.INVENTORY_MANAGER: "inventory_user",
    Role.BILLING_CLERK: "billing_user",
    Role.PATIENT: "patient_user",
}


@pytest.fixture
def user_for_role(request):
    """``user_for_role(Role.NURSE)`` → the nurse persona."""

    def get(role: str):
        return request.getfixturevalue(ROLE_FIXTURES[role])

    return get


@pytest.fixture
def client_for(db):
    """``client_for(user)`` → a new test client signed in as ``user``."""

    def make(user) -> Client:
        return login(Client(), user)

    return make


def sql_run(captured_queries) -> list[str]:
    """The SQL of each captured query (``CaptureQueriesContext``), with the text of the
    statements prepared on the connection (``uscpis.prepared``) in place of their
    ``EXECUTE``: what PostgreSQL ran."""
    import re

    from django.db import connection

    run = []
    for query in captured_queries:
        sql = query["sql"]
        names = re.findall(r"EXECUTE (uscpis_\w+)", sql)
        if names:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT statement FROM pg_prepared_statements WHERE name = ANY(%s)", [names]
                )
                sql = "; ".join(text for (text,) in cursor.fetchall())
        run.append(sql)
    return run
