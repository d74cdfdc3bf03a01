"""Read events written on their own commit without waiting for the WAL flush; every other
event, and any event inside a caller's transaction, keeps the session's synchronous commit."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts import audit
from accounts.models import AuditAction, AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _recorded(**kwargs):
    with CaptureQueriesContext(connection) as ctx:
        event = audit.audit_record(**kwargs)
    return event, [q["sql"] for q in ctx.captured_queries]


def test_a_read_event_on_its_own_skips_the_flush_wait_for_that_transaction_only():
    user = UserFactory()
    event, sql = _recorded(actor=user, action=AuditAction.READ, object_id="p1")
    # One statement (a statement sent alone costs PostgreSQL less than in a query string
    # with others), making the setting itself for its own transaction.
    assert len(sql) == 1 and ";" not in sql[0] and audit.READ_EVENT_NO_FLUSH_WAIT in sql[0]
    stored = AuditEvent.objects.get(pk=event.pk)  # committed, visible at once
    assert (stored.actor_id, stored.action, stored.object_id) == (user.pk, "read", "p1")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)  # the session keeps its setting


def test_the_read_events_insert_turns_the_flush_wait_off_for_its_transaction():
    """The setting holds in the rest of the INSERT's transaction (read at its commit):
    the same INSERT followed, in one transaction, by SHOW."""
    from uscpis.compiled import fetch_together

    user = UserFactory()
    with CaptureQueriesContext(connection) as ctx:
        audit.audit_record(actor=user, action=AuditAction.READ, object_id="p4")
    (sent,) = ctx.captured_queries
    # The INSERT as sent (its values inlined by the client), then SHOW, in one transaction.
    rows = fetch_together([(sent["sql"].replace("%", "%%"), []), ("SHOW synchronous_commit", [])])
    assert rows[1] == [("off",)]
    assert AuditEvent.objects.filter(object_id="p4").count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


@pytest.mark.parametrize("action", [AuditAction.UPDATE, AuditAction.EXPORT])
def test_other_events_wait_for_the_flush(action):
    event, sql = _recorded(actor=UserFactory(), action=action, object_id="p1")
    assert audit.READ_EVENT_NO_FLUSH_WAIT not in " ".join(sql)
    assert AuditEvent.objects.filter(pk=event.pk, action=action).exists()


def test_a_read_event_in_a_transaction_is_the_transactions():
    user = UserFactory()
    with transaction.atomic():
        event, sql = _recorded(actor=user, action=AuditAction.READ, object_id="p2")
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
    assert audit.READ_EVENT_NO_FLUSH_WAIT not in " ".join(sql)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_setting_makes_read_events_wait(settings):
    settings.AUDIT_READ_EVENTS_WAIT_FOR_FLUSH = True
    event, sql = _recorded(actor=UserFactory(), action=AuditAction.READ, object_id="p3")
    assert audit.READ_EVENT_NO_FLUSH_WAIT not in " ".join(sql)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_unflushed_read_events_still_seal_and_verify():
    user = UserFactory()
    for n in range(3):
        audit.audit_record(actor=user, action=AuditAction.READ, object_id=f"s{n}")
    assert audit.audit_seal(wait_seconds=10).sealed >= 3
    assert audit.audit_chain_verify(seal=False).ok
