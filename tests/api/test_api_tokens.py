"""Personal API tokens: created on the tokens page (secret shown once, stored hashed,
expiry required and capped), last use recorded, revoked by the owner or an administrator,
dead at once when the user is deactivated; creation and revocation audited."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts import services
from accounts.models import ApiToken, AuditEvent
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _create(client: Client, **data) -> tuple[object, str | None]:
    r = client.post(
        "/accounts/api-tokens/",
        {"name": "Lab sync", "scope": "read", "expires_in_days": 90, **data},
        follow=True,
    )
    m = re.search(r'id="token-secret"[^>]*>([^<]+)<', r.content.decode())
    return r, m.group(1) if m else None


def test_token_page_creates_a_hashed_expiring_token_shown_once(doctor_user):
    client = login(Client(), doctor_user)
    r, secret = _create(client)
    assert r.status_code == 200 and secret and secret.startswith("uscpis_")
    assert "no-store" in r["Cache-Control"]
    token = ApiToken.objects.get(user=doctor_user)
    assert secret not in (token.digest, token.token_key) and len(token.digest) == 128
    assert 89 <= (token.expiry - token.created).days <= 90
    assert secret not in client.get("/accounts/api-tokens/").content.decode()  # never again
    assert AuditEvent.objects.filter(
        action="create", object_type="accounts.apitoken", actor=doctor_user
    ).exists()


def test_expiry_is_capped_at_a_year(doctor_user):
    client = login(Client(), doctor_user)
    r, secret = _create(client, expires_in_days=400)
    assert r.status_code == 422 and secret is None
    assert not ApiToken.objects.exists()


def test_last_use_time_and_ip_are_shown(doctor_user, api_client):
    api = api_client(doctor_user)
    assert api.get("/api/v1/appointment-types/", REMOTE_ADDR="10.1.2.3").status_code == 200
    token = ApiToken.objects.get(user=doctor_user)
    assert token.last_used_ip == "10.1.2.3" and token.last_used_at is not None
    page = login(Client(), doctor_user).get("/accounts/api-tokens/").content.decode()
    assert "10.1.2.3" in page


def test_owner_revokes_and_the_token_stops_working(doctor_user, nurse_user, api_client):
    api = api_client(doctor_user)
    token = ApiToken.objects.get(user=doctor_user)
    # Someone else's token is "not found".
    assert (
        login(Client(), nurse_user).post(f"/accounts/api-tokens/{token.uid}/revoke/").status_code
        == 404
    )
    r = login(Client(), doctor_user).post(f"/accounts/api-tokens/{token.uid}/revoke/")
    assert r.status_code == 302
    assert api.get("/api/v1/appointment-types/").status_code == 401
    assert AuditEvent.objects.filter(action="delete", object_type="accounts.apitoken").exists()


def test_admin_lists_and_revokes_any_token(admin_user, doctor_user, api_client):
    api = api_client(doctor_user)
    token = ApiToken.objects.get(user=doctor_user)
    client = login(Client(), admin_user)
    page = client.get("/accounts/api-tokens/all/")
    assert page.status_code == 200 and doctor_user.email in page.content.decode()
    assert client.post(f"/accounts/api-tokens/{token.uid}/revoke/").status_code == 302
    assert api.get("/api/v1/appointment-types/").status_code == 401


def test_non_admins_cannot_open_the_all_tokens_page(doctor_user):
    assert login(Client(), doctor_user).get("/accounts/api-tokens/all/").status_code == 403


def test_a_deactivated_users_tokens_stop_at_once(admin_user, doctor_user, api_client):
    api = api_client(doctor_user)
    assert api.get("/api/v1/appointment-types/").status_code == 200
    doctor_user.is_active = False
    doctor_user.save(update_fields=["is_active"])
    assert api.get("/api/v1/appointment-types/").status_code == 401  # even before any clean-up
    doctor_user.is_active = True
    doctor_user.save(update_fields=["is_active"])
    services.user_update(
        actor=admin_user,
        user=doctor_user,
        first_name="D",
        last_name="T",
        role=doctor_user.role,
        is_active=False,
    )
    assert not ApiToken.objects.filter(user=doctor_user).exists()


def test_patient_tokens_reach_only_their_own_record(world, patient_user, api_client):
    api = api_client(patient_user, scope="read_write")
    ids = [p["id"] for p in api.get("/api/v1/patients/").json()["results"]]
    assert ids == [world.patient.pk]


def test_expired_tokens_and_old_idempotency_keys_are_pruned(doctor_user, api_client):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import IdempotencyRecord
    from accounts.tasks import prune_api_records

    api_client(doctor_user)
    live = ApiToken.objects.get(user=doctor_user)
    expired = ApiToken.objects.create(user=doctor_user, expiry=timedelta(days=1), name="old")[0]
    ApiToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    old = IdempotencyRecord.objects.create(
        user=doctor_user, key="a", method="POST", path="/x", request_hash="h"
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    IdempotencyRecord.objects.create(
        user=doctor_user, key="b", method="POST", path="/x", request_hash="h"
    )
    assert prune_api_records() == {"tokens": 1, "idempotency_keys": 1}
    assert list(ApiToken.objects.all()) == [live]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["b"]


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_token_lookup_reads_what_knoxs_query_reads(doctor_user, nurse_user):
    """The precompiled lookup (accounts.token_cache.load_tokens) gives knox's queryset's
    tokens, in its order (newest first), each with its user loaded."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.token_cache import load_tokens

    made = [
        services.api_token_create(actor=user, name=f"t{n}", scope="read")[0]
        for n, user in enumerate([doctor_user, nurse_user, doctor_user])
    ]
    # Three tokens sharing one key (knox keys are a prefix of the secret, so they can clash).
    ApiToken.objects.filter(pk__in=[t.pk for t in made]).update(token_key=made[0].token_key)
    for n, token in enumerate(made):
        ApiToken.objects.filter(pk=token.pk).update(
            created=timezone.now() - timedelta(minutes=n), last_used_ip="10.0.0.1"
        )
    orm = list(ApiToken.objects.filter(token_key=made[0].token_key).select_related("user"))
    with CaptureQueriesContext(connection) as queries:
        fast = load_tokens(made[0].token_key)
        users = [t.user for t in fast]
    assert len(queries) == 1
    assert [_values(t) for t in fast] == [_values(t) for t in orm]
    assert [_values(u) for u in users] == [_values(t.user) for t in orm]
    assert [t.pk for t in fast] == [made[0].pk, made[1].pk, made[2].pk]  # newest first
    assert load_tokens("no-such-key") == []
    # Compiled (uscpis.compiled), not the ORM fallback: the key is the one parameter.
    from accounts.token_cache import _tokens

    sql, params = _tokens(ApiToken).statement(made[0].token_key)
    assert params == [made[0].token_key] and "JOIN" in sql


def test_a_wrong_secret_with_a_known_key_is_refused(doctor_user, api_client):
    api = api_client(doctor_user)
    assert api.get("/api/v1/appointment-types/").status_code == 200
    secret = api.token_secret
    wrong = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
    api.credentials(HTTP_AUTHORIZATION=f"Token {wrong}")
    assert api.get("/api/v1/appointment-types/").status_code == 401


def test_token_lookup_is_prepared_once_per_connection(doctor_user, nurse_user):
    """The lookup's plan is the token key's index whatever the key, so it is a statement
    prepared on the connection (uscpis.prepared): prepared with its first use, then only
    executed, each key finding its own token."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.token_cache import load_tokens

    first, _ = services.api_token_create(actor=doctor_user, name="a", scope="read")
    second, _ = services.api_token_create(actor=nurse_user, name="b", scope="read")
    with CaptureQueriesContext(connection) as queries:
        found = [load_tokens(t.token_key) for t in (first, second, first)]
    assert [[t.pk for t in tokens] for tokens in found] == [[first.pk], [second.pk], [first.pk]]
    assert [t.user.pk for t in found[1]] == [nurse_user.pk]
    sent = [q["sql"] for q in queries.captured_queries]
    assert len(sent) == 3 and all("EXECUTE uscpis_" in sql for sql in sent)
    assert sum(sql.count("PREPARE ") for sql in sent) <= 1  # none if an earlier test did
