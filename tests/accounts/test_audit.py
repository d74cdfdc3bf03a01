"""The audit trail: append-only, sealed into a hash chain, verifiable, searchable.

Concurrency of writers and of the sealer: test_audit_sealing.py."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from accounts.audit import (
    GENESIS_HASH,
    PAYLOAD_COLUMNS,
    audit_chain_verify,
    audit_record,
    audit_seal,
    chain_hash,
)
from accounts.models import AuditEvent
from accounts.roles import Role
from tests.factories import UserFactory


@pytest.mark.django_db
def test_events_are_written_unsealed_and_chained_by_the_sealer():
    user = UserFactory(role=Role.DOCTOR)
    first = audit_record(
        actor=user, action="read", object_type="patients.patient", object_id=1, patient_id=1
    )
    second = audit_record(
        actor=user,
        action="update",
        object_type="patients.patient",
        object_id=1,
        patient_id=1,
        detail={"field": "phone"},
    )
    assert first.hash is None and second.hash is None
    report = audit_seal(wait_seconds=1)
    assert report.sealed == 2 and report.head_id == second.pk and not report.skipped
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and report.head_hash == second.hash
    assert audit_chain_verify(seal=False).ok
    assert audit_seal(wait_seconds=1).sealed == 0  # nothing new: idempotent


@pytest.mark.django_db
def test_database_refuses_update_and_delete():
    event = audit_record(action="login_failed", actor_email="x@usc.edu.ph", allowed=False)
    # Unsealed: only setting the seal, and nothing else, is accepted.
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="login")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(
            action="login", prev_hash="a" * 64, hash="b" * 64
        )
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(hash="b" * 64)  # half a seal
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    audit_seal(wait_seconds=1)
    # Sealed: nothing changes any more, the seal included.
    for change in (
        {"action": "login"},
        {"hash": "c" * 64, "prev_hash": "d" * 64},
        {"hash": None, "prev_hash": None},
    ):
        with pytest.raises(DatabaseError, match="sealed"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(**change)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ValueError):
        event.save()


def _tamper(sql, params):
    with connection.cursor() as cursor:
        # A superuser can bypass triggers; the hash chain must still expose the change.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = origin")


def _sealed_events(n, **fields):
    user = UserFactory(role=Role.NURSE)
    events = [
        audit_record(
            actor=user,
            action="read",
            object_type="patients.patient",
            object_id=i,
            patient_id=i,
            **fields,
        )
        for i in range(n)
    ]
    assert audit_seal(wait_seconds=1).sealed == n
    return events


@pytest.mark.django_db
def test_verify_command_reports_the_first_broken_link(capsys):
    events = _sealed_events(5)
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "5 events verified" in out and "not sealed" not in out
    # Someone with database access rewrites history: the chain breaks at that event.
    _tamper("UPDATE accounts_auditevent SET patient_id = 999 WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError, match=f"BROKEN at event {events[2].pk}.*edited"):
        call_command("audit", "verify")


@pytest.mark.django_db
def test_deleting_an_event_breaks_the_chain():
    events = _sealed_events(4)
    _tamper("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken_at == events[2].pk and report.checked == 1
    assert "removed" in report.reason


@pytest.mark.django_db
def test_swapping_two_events_breaks_the_chain():
    """Reordering: two sealed events trade places (their contents swap ids, seals and all)."""
    events = _sealed_events(4)
    a, b = events[1].pk, events[2].pk
    _tamper(
        "UPDATE accounts_auditevent SET id = CASE id WHEN %s THEN -1 ELSE id END WHERE id = %s",
        [a, a],
    )
    _tamper("UPDATE accounts_auditevent SET id = %s WHERE id = %s", [a, b])
    _tamper("UPDATE accounts_auditevent SET id = %s WHERE id = -1", [b])
    assert list(
        AuditEvent.objects.filter(pk__in=[a, b]).order_by("id").values_list("object_id", flat=True)
    ) == ["2", "1"]
    report = audit_chain_verify()
    assert report.broken_at == a and report.checked == 1


@pytest.mark.django_db
def test_swapping_contents_but_keeping_the_seals_breaks_the_chain():
    events = _sealed_events(3)
    a, b = events[0].pk, events[1].pk
    _tamper("UPDATE accounts_auditevent SET object_id = '1', patient_id = 1 WHERE id = %s", [a])
    _tamper("UPDATE accounts_auditevent SET object_id = '0', patient_id = 0 WHERE id = %s", [b])
    report = audit_chain_verify()
    assert report.broken_at == a and "edited" in report.reason


@pytest.mark.django_db
def test_removing_a_seal_is_reported_not_resealed():
    events = _sealed_events(3)
    _tamper(
        "UPDATE accounts_auditevent SET hash = NULL, prev_hash = NULL WHERE id = %s", [events[1].pk]
    )
    report = audit_chain_verify()
    assert report.broken_at == events[1].pk and "not sealed" in report.reason
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit", "seal")


@pytest.mark.django_db
def test_unsealed_events_are_reported_with_the_oldest(capsys):
    _sealed_events(2)
    late = [
        audit_record(action="login_failed", actor_email=f"{i}@x.org", allowed=False)
        for i in range(3)
    ]
    report = audit_chain_verify(seal=False)
    assert report.ok and report.checked == 2
    assert report.unsealed == 3 and report.oldest_unsealed_id == late[0].pk
    assert report.oldest_unsealed_at == late[0].created_at
    call_command("audit", "verify", "--no-seal")
    out = capsys.readouterr().out
    assert (
        "2 events verified" in out and f"3 events not sealed yet (oldest: event {late[0].pk}" in out
    )
    call_command("audit", "verify")  # seals first
    out = capsys.readouterr().out
    assert "5 events verified" in out and "not sealed" not in out


@pytest.mark.django_db
def test_verify_reads_in_batches_with_progress():
    _sealed_events(25)
    seen = []
    report = audit_chain_verify(seal=False, batch_size=10, progress=lambda n, head: seen.append(n))
    assert report.ok and report.checked == 25 and seen == [10, 20, 25]


@pytest.mark.django_db
def test_events_from_before_sealing_keep_their_hashes():
    """Events chained at write time (before this design) were hashed the same way: they
    count as sealed and new events chain on after them."""
    events = _sealed_events(2)
    event = AuditEvent.objects.get(pk=events[1].pk)
    payload = [getattr(event, c) for c in PAYLOAD_COLUMNS]
    assert chain_hash(event.prev_hash, payload) == event.hash


@pytest.mark.django_db
def test_admin_searches_events_by_user_patient_action_and_date(client_for, admin_user):
    nurse = UserFactory(role=Role.NURSE, email="searched.nurse@usc.edu.ph")
    audit_record(
        actor=nurse, action="read", object_type="patients.patient", object_id=7, patient_id=7
    )
    audit_record(
        actor=nurse, action="update", object_type="patients.patient", object_id=8, patient_id=8
    )
    client = client_for(admin_user)
    url = reverse("accounts:audit_list")
    body = client.get(
        url, {"user": "searched.nurse", "patient": 7, "action": "read"}
    ).content.decode()
    assert "searched.nurse@usc.edu.ph" in body and "#7" in body and "#8" not in body
    fragment = client.get(url, {"patient": 8}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="audit-table"') and "#8" in fragment
    bad = client.get(url, {"date_from": "2026-12-01", "date_to": "2026-01-01"})
    assert bad.status_code == 200 and "must be on or before" in bad.content.decode()


@pytest.mark.django_db
def test_audit_page_query_count_does_not_grow(
    client_for, admin_user, django_assert_max_num_queries
):
    client = client_for(admin_user)
    for i in range(60):
        audit_record(actor=admin_user, action="read", object_id=i)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("accounts:audit_list")).status_code == 200


@pytest.mark.django_db
def test_only_admins_see_the_audit_trail(client_for, doctor_user):
    assert client_for(doctor_user).get(reverse("accounts:audit_list")).status_code == 403
