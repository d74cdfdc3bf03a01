"""The audit trail: append-only, hash-chained, verifiable, searchable."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from accounts.audit import GENESIS_HASH, audit_chain_verify, audit_record
from accounts.models import AuditEvent
from accounts.roles import Role
from tests.factories import UserFactory


@pytest.mark.django_db
def test_events_chain_to_each_other():
    user = UserFactory(role=Role.DOCTOR)
    first = audit_record(actor=user, action="read", object_type="patients.patient", object_id=1, patient_id=1)
    second = audit_record(actor=user, action="update", object_type="patients.patient", object_id=1, patient_id=1,
                          detail={"field": "phone"})
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_database_refuses_update_and_delete():
    event = audit_record(action="login_failed", actor_email="x@usc.edu.ph", allowed=False)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="login")
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


@pytest.mark.django_db
def test_verify_command_reports_the_first_broken_link(capsys):
    user = UserFactory(role=Role.NURSE)
    events = [audit_record(actor=user, action="read", object_type="patients.patient", object_id=i, patient_id=i)
              for i in range(5)]
    call_command("audit", "verify")
    assert "5 events verified" in capsys.readouterr().out
    # Someone with database access rewrites history: the chain breaks at that event.
    _tamper("UPDATE accounts_auditevent SET patient_id = 999 WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError, match=f"BROKEN at event {events[2].pk}"):
        call_command("audit", "verify")


@pytest.mark.django_db
def test_deleting_an_event_breaks_the_chain():
    user = UserFactory(role=Role.NURSE)
    events = [audit_record(actor=user, action="read", object_id=i) for i in range(4)]
    _tamper("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken_at == events[2].pk and report.checked == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_a_single_chain():
    user = UserFactory(role=Role.NURSE)
    errors = []

    def write(n):
        try:
            for i in range(5):
                audit_record(actor=user, action="read", object_id=f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert AuditEvent.objects.count() == 40
    report = audit_chain_verify()
    assert report.ok and report.checked == 40


@pytest.mark.django_db
def test_admin_searches_events_by_user_patient_action_and_date(client_for, admin_user):
    nurse = UserFactory(role=Role.NURSE, email="searched.nurse@usc.edu.ph")
    audit_record(actor=nurse, action="read", object_type="patients.patient", object_id=7, patient_id=7)
    audit_record(actor=nurse, action="update", object_type="patients.patient", object_id=8, patient_id=8)
    client = client_for(admin_user)
    url = reverse("accounts:audit_list")
    body = client.get(url, {"user": "searched.nurse", "patient": 7, "action": "read"}).content.decode()
    assert "searched.nurse@usc.edu.ph" in body and "#7" in body and "#8" not in body
    fragment = client.get(url, {"patient": 8}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="audit-table"') and "#8" in fragment
    bad = client.get(url, {"date_from": "2026-12-01", "date_to": "2026-01-01"})
    assert bad.status_code == 200 and "must be on or before" in bad.content.decode()


@pytest.mark.django_db
def test_audit_page_query_count_does_not_grow(client_for, admin_user, django_assert_max_num_queries):
    client = client_for(admin_user)
    for i in range(60):
        audit_record(actor=admin_user, action="read", object_id=i)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("accounts:audit_list")).status_code == 200


@pytest.mark.django_db
def test_only_admins_see_the_audit_trail(client_for, doctor_user):
    assert client_for(doctor_user).get(reverse("accounts:audit_list")).status_code == 403
