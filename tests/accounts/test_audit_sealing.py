"""Audit writers never wait for each other; the sealer chains their events in id order and
never seals past an event a still-open transaction may commit later."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, transaction

from accounts.audit import (
    _AUDIT_LOCK_KEY,
    _SEALER_LOCK_KEY,
    audit_chain_verify,
    audit_record,
    audit_seal,
)
from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.tasks import seal_audit_trail
from monitoring import pg
from tests.factories import UserFactory

WRITERS = 8

_AUDIT_LOCKS = (
    "SELECT pid, mode, granted FROM pg_locks WHERE locktype = 'advisory' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid::bigint = %s AND objid::bigint = %s"
)


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"


@pytest.mark.django_db(transaction=True)
def test_eight_writers_hold_uncommitted_events_at_the_same_time():
    """Each writer records an event and then waits, transaction still open, until all eight
    have recorded theirs. Were audit writes serialised on one lock, the second writer could
    not record before the first committed and the barrier would never fill."""
    user = UserFactory(role=Role.NURSE)
    recorded = threading.Barrier(WRITERS, timeout=30)
    inspected = threading.Barrier(WRITERS, timeout=30)
    locks_seen: list = []
    errors: list = []

    def write(n):
        try:
            with transaction.atomic():
                audit_record(
                    actor=user,
                    action="read",
                    object_type="patients.patient",
                    object_id=n,
                    patient_id=n,
                )
                recorded.wait()  # all eight events exist, none committed
                if n == 0:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            _AUDIT_LOCKS, [_AUDIT_LOCK_KEY >> 32, _AUDIT_LOCK_KEY & 0xFFFFFFFF]
                        )
                        locks_seen.extend(cursor.fetchall())
                inspected.wait()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    _run([threading.Thread(target=write, args=(n,)) for n in range(WRITERS)])
    assert not errors, errors
    # The only audit lock they hold is the shared side of the restore fence: all granted.
    assert len({pid for pid, _, _ in locks_seen}) == WRITERS
    assert {(mode, granted) for _, mode, granted in locks_seen} == {("ShareLock", True)}
    assert AuditEvent.objects.filter(hash__isnull=True).count() == WRITERS
    report = audit_seal(wait_seconds=5)
    assert report.sealed == WRITERS and not report.skipped
    verified = audit_chain_verify(seal=False)
    assert verified.ok and verified.checked == WRITERS and verified.unsealed == 0


@pytest.mark.django_db(transaction=True)
def test_a_writer_commits_while_another_holds_its_event_open():
    user = UserFactory(role=Role.DOCTOR)
    a_recorded, b_done = threading.Event(), threading.Event()
    errors = []

    def writer_a():
        try:
            with transaction.atomic():
                audit_record(
                    actor=user, action="read", object_type="patients.patient", object_id="a"
                )
                a_recorded.set()
                assert b_done.wait(timeout=30), "B waited for A"
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def writer_b():
        try:
            assert a_recorded.wait(timeout=30)
            audit_record(actor=user, action="read", object_type="patients.patient", object_id="b")
            b_done.set()  # B committed (autocommit) while A's transaction is still open
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    _run([threading.Thread(target=writer_a), threading.Thread(target=writer_b)])
    assert not errors, errors
    assert list(AuditEvent.objects.order_by("id").values_list("object_id", flat=True)) == ["a", "b"]


@pytest.mark.django_db(transaction=True)
def test_the_sealer_never_seals_past_an_event_still_to_commit():
    """Id order is not commit order: A draws the lower id and commits last. The sealer must
    leave B's event unsealed while A is open, then chain A's before B's."""
    user = UserFactory(role=Role.NURSE)
    audit_record(actor=user, action="read", object_id="before")
    assert audit_seal(wait_seconds=5).sealed == 1
    a_recorded, a_may_commit = threading.Event(), threading.Event()
    errors = []

    def writer_a():
        try:
            with transaction.atomic():
                audit_record(actor=user, action="read", object_id="a")
                a_recorded.set()
                assert a_may_commit.wait(timeout=30)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer_a)
    thread.start()
    try:
        assert a_recorded.wait(timeout=30)
        b = audit_record(actor=user, action="read", object_id="b")  # higher id, committed
        report = audit_seal(wait_seconds=0.3)
        assert report.sealed == 0 and report.skipped == "1 writer(s) still open"
        b.refresh_from_db()
        assert b.hash is None
        pending = audit_chain_verify(seal=False)
        assert pending.ok and pending.checked == 1
        assert pending.unsealed == 1 and pending.oldest_unsealed_id == b.pk
    finally:
        a_may_commit.set()
        thread.join(timeout=30)
    assert not errors, errors
    a = AuditEvent.objects.get(object_id="a")
    assert a.pk < b.pk
    assert audit_seal(wait_seconds=5).sealed == 2
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.prev_hash == a.hash
    report = audit_chain_verify(seal=False)
    assert report.ok and report.checked == 3 and report.unsealed == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_leaves_a_gap_the_sealer_passes():
    user = UserFactory(role=Role.NURSE)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=user, action="read", object_id="gone")
        raise RuntimeError
    audit_record(actor=user, action="read", object_id="kept")
    assert audit_seal(wait_seconds=5).sealed == 1
    assert audit_chain_verify(seal=False).ok


@pytest.mark.django_db
def test_one_sealer_at_a_time():
    audit_record(action="login_failed", actor_email="a@x.org", allowed=False)
    with pg.connect() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_SEALER_LOCK_KEY])
        report = audit_seal(wait_seconds=0.2)
    assert report.sealed == 0 and report.skipped == "another sealer is running"
    assert audit_seal(wait_seconds=1).sealed == 1


@pytest.mark.django_db(transaction=True)
def test_a_restore_holding_the_fence_stops_writers_and_the_sealer():
    audit_record(action="login_failed", actor_email="a@x.org", allowed=False)
    with pg.connect() as restore:
        restore.execute("SELECT pg_advisory_lock(%s)", [_AUDIT_LOCK_KEY])
        # Generous waits: a pass returns at once; on a loaded machine a writer from an
        # earlier test may take more than a second to finish, which is not what this tests.
        report = audit_seal(wait_seconds=10)
        assert report.sealed == 0 and report.skipped == "a restore is in progress"
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            audit_record(action="login_failed", actor_email="b@x.org", allowed=False)
    assert audit_seal(wait_seconds=10).sealed == 1


@pytest.mark.django_db
def test_the_sealer_works_in_batches_and_the_beat_task_calls_it():
    for i in range(7):
        audit_record(action="login_failed", actor_email=f"{i}@x.org", allowed=False)
    counts = []
    report = audit_seal(wait_seconds=1, batch_size=3, progress=counts.append)
    # Windows are 3 ids wide, so where they fall depends on the sequence (other tests draw
    # ids too): 3 + 3 + 1 from id 1, 2 + 3 + 2 from id 2, ...; never more than 3 at once.
    steps = [b - a for a, b in zip([0, *counts], counts, strict=False)]
    assert report.sealed == 7 and counts[-1] == 7
    assert len(steps) >= 3 and all(0 < step <= 3 for step in steps)
    audit_record(action="login_failed", actor_email="late@x.org", allowed=False)
    assert seal_audit_trail() == 1
    assert audit_chain_verify(seal=False).checked == 8
