"""Property-based: generated values posted to every form field and GET parameter of every
view, as a role allowed to use it, never produce a 5xx (issue #11, "Bad input").

The URL conf gives the views, their permission (``required_permission``) and their URL
arguments; every form class of every app gives the field names. Hypothesis generates the
values (far dates, huge and exponent numbers, NUL bytes, markup, unicode, plain text) and
shrinks any failure to the smallest request that breaks. Bounded: a handful of examples per
view, no deadline: the whole walk takes a few minutes (about one minute of CPU).
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
from django import forms as django_forms
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.roles import PUBLIC, Role, user_has_perm
from tests.conftest import login

OUR_APPS = (
    "accounts",
    "patients",
    "appointments",
    "inventory",
    "billing",
    "analytics",
    "monitoring",
)
# Views that would end the session or hand work to long-running machinery under test.
SKIP = {"accounts:logout", "monitoring:restore_start", "monitoring:backup_restore"}

NASTY = [
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "-0",
    "99999999999999999999999",
    "-1",
    "0",
    "1",
    "3",
    "1.5",
    "",
    " ",
    "\x00",
    "a\x00b",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "../../etc/passwd",
    "ñ" * 3,
    "x" * 300,
    "2026-12-05T10:00",
    "on",
    "true",
    "csv",
    "pdf",
    "json",
    "week",
    "day",
]
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers().map(str))


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            yield p, namespace, prefix


def _views():
    found = []
    for pattern, namespace, prefix in _walk(get_resolver().url_patterns):
        if namespace not in OUR_APPS or not pattern.name:
            continue
        name = f"{namespace}:{pattern.name}"
        perm = getattr(pattern.callback, "required_permission", None)
        if perm is None or name in SKIP:
            continue
        route = str(pattern.pattern)
        if route.startswith("^"):
            continue  # regex routes (tokens, codes): covered by their own tests
        found.append((name, prefix + route, perm))
    return found


def _field_names() -> list[str]:
    names: set[str] = set()
    for app in OUR_APPS:
        try:
            module = importlib.import_module(f"{app}.forms")
        except ImportError:
            continue
        for _n, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, django_forms.BaseForm) and cls.__module__ == module.__name__:
                names.update(getattr(cls, "base_fields", {}))
    names.update(
        {
            "date",
            "date_from",
            "date_to",
            "q",
            "page",
            "provider",
            "type",
            "view",
            "status",
            "year",
            "month",
            "code",
            "export",
            "mine",
            "item",
            "patient",
            "slot",
            "form",
            "action",
            "quantity",
            "revoke",
            "next",
            "tab",
            "kind",
            "sort",
            "id",
            "item_id",
            "lot",
            "lot_id",
            "line",
            "user_pk",
            "format",
            "fmt",
        }
    )
    return sorted(names)


FIELDS = _field_names()
VIEWS = _views()
ROLE_ORDER = [
    Role.ADMIN,
    Role.DOCTOR,
    Role.NURSE,
    Role.FRONT_DESK,
    Role.INVENTORY_MANAGER,
    Role.BILLING_CLERK,
    Role.DENTIST,
    Role.PATIENT,
]


def _role_for(perm: str):
    if perm == PUBLIC:
        return None

    class _Probe:
        is_authenticated = True
        is_active = True

    for role in ROLE_ORDER:
        probe = _Probe()
        probe.role = role
        try:
            if user_has_perm(probe, perm):
                return role
        except Exception:
            continue
    return Role.ADMIN


def _path(route: str, values: list[str]) -> str:
    """Fill the route's converters with generated values (ints stay ints)."""
    parts = iter(values)

    def fill(match):
        conv = match.group(1) or "str"
        raw = next(parts, "1")
        if conv == "int":
            digits = re.sub(r"\D", "", raw)[:9]
            return digits or "1"
        if conv == "slug":
            return re.sub(r"[^-a-zA-Z0-9_]", "", raw)[:20] or "x"
        return re.sub(r"[/\x00]", "", raw)[:40] or "x"

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", fill, route)


@pytest.fixture
def personas(db, clinic, admin_user, nurse_user, front_desk_user, inventory_user, billing_user):
    from tests.conftest import ROLE_FIXTURES  # noqa: F401

    users = {
        Role.ADMIN: admin_user,
        Role.DOCTOR: clinic.doctor.user,
        Role.DENTIST: clinic.dentist.user,
        Role.NURSE: nurse_user,
        Role.FRONT_DESK: front_desk_user,
        Role.INVENTORY_MANAGER: inventory_user,
        Role.BILLING_CLERK: billing_user,
        Role.PATIENT: clinic.patient.user,
    }
    clients = {None: Client(raise_request_exception=False)}
    for role, user in users.items():
        clients[role] = login(Client(raise_request_exception=False), user)
    return clients


@pytest.mark.slow
@pytest.mark.parametrize("name,route,perm", VIEWS, ids=[v[0] for v in VIEWS])
def test_generated_input_never_answers_5xx(name, route, perm, personas):
    client = personas[_role_for(perm)]

    @settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        url_args=st.lists(VALUES, min_size=3, max_size=3),
        query=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
        data=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8),
        htmx=st.booleans(),
    )
    # Besides the generated ones: every field at once set to a far date, an overflowing
    # number and a NUL byte (the faults the outside test found).
    @example(
        url_args=["1", "1", "1"],
        query=dict.fromkeys(FIELDS, "9999-12-31"),
        data=dict.fromkeys(FIELDS, "9999-12-31"),
        htmx=False,
    )
    @example(
        url_args=["1", "1", "1"],
        query=dict.fromkeys(FIELDS, "1e309"),
        data=dict.fromkeys(FIELDS, "1e309"),
        htmx=True,
    )
    @example(
        url_args=["1", "1", "1"],
        query=dict.fromkeys(FIELDS, "a\x00b"),
        data=dict.fromkeys(FIELDS, "a\x00b"),
        htmx=False,
    )
    def check(url_args, query, data, htmx):
        path = _path(route, url_args)
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        for method in ("get", "post"):
            payload = query if method == "get" else data
            response = getattr(client, method)(path, payload, **headers)
            assert response.status_code < 500, (
                f"{method.upper()} {path} {payload!r} (htmx={htmx}) answered {response.status_code}"
            )

    check()
