"""The audit trail keeps one index per way it is read, and no more (each is a write per
event): the actor's events come from the (actor, created_at) index, not a second one; and
no foreign-key check per event."""

import pytest
from django.db import connection
from django.db.models import ProtectedError

from accounts.audit import audit_record
from accounts.models import AuditAction, AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "accounts_auditevent")
    return {name: tuple(c["columns"]) for name, c in constraints.items() if c["index"]}


def test_actor_lookups_have_exactly_one_index():
    by_columns = list(_indexes().values())
    assert ("actor_id",) not in by_columns
    assert ("actor_id", "created_at") in by_columns


def test_the_actor_has_no_database_foreign_key_but_users_with_events_cannot_be_deleted():
    """The FK check cost more than the insert it guarded (a KEY SHARE lock on the user's row
    at every event's commit); PROTECT still refuses to delete a user the trail names."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "accounts_auditevent")
    fks = [c["foreign_key"] for c in constraints.values() if c["foreign_key"]]
    assert fks == []

    user = UserFactory()
    audit_record(actor=user, action=AuditAction.READ, object_type="patient", object_id="1")
    with pytest.raises(ProtectedError):
        user.delete()
    event = AuditEvent.objects.select_related("actor").get(actor=user)
    assert event.actor == user


def test_a_users_events_are_found_through_the_actor_index():
    """One user's few events among many others' (the trail's usual shape), with the table's
    statistics current, whatever earlier tests left in it."""
    busy, rare = UserFactory(), UserFactory()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(actor=rare if n % 500 == 0 else busy, action=AuditAction.READ)
            for n in range(3000)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_auditevent")
        cursor.execute(
            "EXPLAIN SELECT id FROM accounts_auditevent WHERE actor_id = %s "
            "ORDER BY created_at DESC LIMIT 50",
            [rare.pk],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "accounts_au_actor_i_e03d4d_idx" in plan
