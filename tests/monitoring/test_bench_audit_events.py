"""The bench's bulk audit events are real, chained events: ``audit verify`` accepts them."""

from __future__ import annotations

import io

import pytest
from django.db import connection

from accounts.audit import audit_chain_verify, audit_record
from accounts.models import AuditEvent
from monitoring import bench

pytestmark = pytest.mark.django_db


def _index_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'accounts_auditevent'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("bulk", [False, True])
def test_generated_events_chain_onto_the_trail_and_verify(monkeypatch, doctor_user, bulk):
    audit_record(actor=doctor_user, action="read", object_type="patients.patient", object_id=1)
    before = _index_names()
    if bulk:  # exercise the drop-and-rebuild path at a tiny scale
        monkeypatch.setattr(bench, "BULK_THRESHOLD", 10)
    bench.generate({"audit_events": 400}, io.StringIO())
    assert AuditEvent.objects.count() == 400
    assert _index_names() == before  # every index and constraint is back
    report = audit_chain_verify()
    assert report.ok, report.reason
    assert report.checked == 400
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"read", "update", "create", "login"} <= actions
    # Idempotent top-up; live writers chain onto the generated events.
    bench.generate({"audit_events": 400}, io.StringIO())
    assert AuditEvent.objects.count() == 400
    audit_record(actor=doctor_user, action="read", object_type="patients.patient", object_id=2)
    assert audit_chain_verify().ok


def test_a_tampered_generated_event_breaks_the_chain():
    bench.generate({"audit_events": 50}, io.StringIO())
    victim = AuditEvent.objects.order_by("id")[20]
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL session_replication_role = replica"
        )  # past the append-only trigger
        cursor.execute("UPDATE accounts_auditevent SET path = '/x/' WHERE id = %s", [victim.pk])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    assert audit_chain_verify().broken_at == victim.pk
