"""Every API operation, generated from the URL conf, for every role: allowed (anything but
401/403) exactly when the role matrix grants the operation's declared permission, else 403;
a patient gets 404 for another patient's objects; no token is a 401. A new endpoint without
a declared permission fails here."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import PUBLIC, Role
from inventory.services import purchasing
from patients.models import PatientDocument
from uscpis.api.permissions import declared_permission, is_known, user_has_any_perm

pytestmark = pytest.mark.django_db

API_NAMESPACES = {"api", "fhir"}


def api_operations():
    """(namespace:name, route, method, view class, action, permission) for every operation."""
    ops = []

    def walk(patterns, namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and namespace in API_NAMESPACES:
                yield namespace, p

    for namespace, pattern in walk(get_resolver().url_patterns):
        callback = pattern.callback
        cls = getattr(callback, "cls", None)
        assert cls is not None, f"{pattern.pattern} is not a DRF view"
        actions = getattr(callback, "actions", None)
        if actions:
            pairs = list(actions.items())
        else:
            pairs = [
                (m, None)
                for m in cls.http_method_names
                if m not in ("options", "head") and hasattr(cls, m)
            ]
        for method, action in pairs:
            ops.append(
                (
                    f"{namespace}:{pattern.name}",
                    str(pattern.pattern),
                    method,
                    cls,
                    action,
                    declared_permission(cls, method, action),
                )
            )
    return ops


OPERATIONS = api_operations()


def test_every_api_operation_declares_a_known_permission():
    assert len(OPERATIONS) >= 30, "the walker found too few API operations"
    missing = [
        f"{m.upper()} {route} ({cls.__name__}.{action or m})"
        for _, route, m, cls, action, perm in OPERATIONS
        if not is_known(perm)
    ]
    assert not missing, "API operations without a declared permission:\n" + "\n".join(missing)


@pytest.fixture
def objects(world, doctor_user, inventory_user):
    doc = PatientDocument.objects.create(
        patient=world.patient,
        kind="lab",
        title="CBC",
        file=ContentFile(b"%PDF-1.4 test", name="cbc.pdf"),
        original_name="cbc.pdf",
        content_type="application/pdf",
        size=13,
        sha256="0" * 64,
        uploaded_by=doctor_user,
    )
    other_doc = PatientDocument.objects.create(
        patient=world.other,
        kind="lab",
        title="CBC",
        file=ContentFile(b"%PDF-1.4 test", name="cbc.pdf"),
        original_name="cbc.pdf",
        content_type="application/pdf",
        size=13,
        sha256="0" * 64,
        uploaded_by=doctor_user,
    )
    order = purchasing.purchase_order_create(
        actor=inventory_user, vendor=world.item.preferred_vendor
    )
    own_cert = world.patient.certificates.first()
    other_cert = world.other.certificates.first()
    # name prefix → (own object id, another patient's object id or None)
    return {
        "patient": (world.patient.pk, world.other.pk),
        "visit": (world.visit.pk, world.other_visit.pk),
        "document": (doc.pk, other_doc.pk),
        "certificate-detail": (own_cert.pk, other_cert.pk),
        "appointment-type": (world.consult.pk, None),
        "appointment": (world.appointment.pk, world.other_appointment.pk),
        "provider": (world.doctor.pk, None),
        "item": (world.item.pk, None),
        "purchase-order": (order.pk, None),
        "certificate-verify": (own_cert.verification_code, None),
        "fhir": (world.patient.pk, world.other.pk),
        "invoice": (world.invoice.pk, world.other_invoice.pk),
        "claim": (world.claim.pk, None),
        "billing-balance": (world.patient.pk, world.other.pk),
    }


def _url(name: str, route: str, objects, own: bool = True) -> str | None:
    short = name.split(":", 1)[1]
    kwargs = {}
    if "<" in route or "(?P<" in route:
        key = next((k for k in objects if short.startswith(k)), None) or (
            "fhir" if name.startswith("fhir:") else None
        )
        assert key is not None, f"no test object for {name}"
        value = objects[key][0 if own else 1]
        if value is None:
            return None
        for arg in ("pk", "code", "resource_id", "patient_pk"):
            if any(f"{x}{arg}>" in route for x in ("<", "<str:", "<int:", "(?P<")):
                kwargs[arg] = value
    extra = _resource_kwargs(name, route)
    return reverse(name, kwargs={**kwargs, **extra})


def _resource_kwargs(name: str, route: str) -> dict:
    return {}


BODY = {"post": {}, "patch": {}, "put": {}, "delete": None, "get": None}


def _call(client, method: str, url: str):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, {}, format="json")


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_allowed_or_refused_as_the_matrix_says(
    role, objects, api_client, user_for_role
):
    user = user_for_role(role)
    client = api_client(user)
    wrong = []
    for name, route, method, cls, action, perm in OPERATIONS:
        url = _url(name, route, objects)
        if url is None:
            continue
        r = _call(client, method, url)
        allowed = perm == PUBLIC or user_has_any_perm(user, perm)
        if allowed and r.status_code in (401, 403):
            wrong.append(
                f"{role}: {method.upper()} {url} → {r.status_code}, expected allowed ({perm})"
            )
        elif not allowed and r.status_code != 403:
            wrong.append(f"{role}: {method.upper()} {url} → {r.status_code}, expected 403 ({perm})")
        if r.status_code >= 500:
            wrong.append(f"{role}: {method.upper()} {url} → {r.status_code}")
    assert not wrong, "\n".join(wrong)


def test_a_patient_gets_404_for_another_patients_objects(objects, api_client, patient_user):
    client = api_client(patient_user)
    checked, wrong = 0, []
    for name, route, method, cls, action, perm in OPERATIONS:
        if perm == PUBLIC or not user_has_any_perm(patient_user, perm):
            continue
        url = _url(name, route, objects, own=False)
        if url is None or "<" not in route and "(?P<" not in route:
            continue
        r = _call(client, method, url)
        checked += 1
        if r.status_code != 404:
            wrong.append(f"{method.upper()} {url} → {r.status_code}")
    assert checked >= 8
    assert not wrong, "\n".join(wrong)


def test_no_token_is_401_except_public_operations(objects, api_client):
    client = api_client()
    wrong = []
    for name, route, method, cls, action, perm in OPERATIONS:
        url = _url(name, route, objects)
        if url is None:
            continue
        r = _call(client, method, url)
        if perm == PUBLIC:
            if r.status_code in (401, 403):
                wrong.append(f"{method.upper()} {url} (public) → {r.status_code}")
        elif r.status_code != 401:
            wrong.append(f"{method.upper()} {url} → {r.status_code}")
        elif "Token" not in r.get("WWW-Authenticate", ""):
            wrong.append(f"{method.upper()} {url}: 401 without WWW-Authenticate")
    assert not wrong, "\n".join(wrong)


def test_a_read_only_token_cannot_write(objects, api_client, doctor_user):
    client = api_client(doctor_user, scope="read")
    writes = [
        op for op in OPERATIONS if op[2] in ("post", "patch", "put", "delete") and op[5] != PUBLIC
    ]
    assert writes
    for name, route, method, cls, action, perm in writes:
        if not user_has_any_perm(doctor_user, perm):
            continue
        url = _url(name, route, objects)
        r = _call(client, method, url)
        assert r.status_code == 403, (method, url, r.status_code)
        assert "read-only" in r.json()["detail"]
