"""Backup rows never stay stuck: broker down when queuing, workers that die, lost messages.
Also: two simultaneous backup requests queue one backup."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from monitoring import tasks
from monitoring.backups import create, jobs, locks, prune, restore_jobs
from monitoring.models import Backup, BackupStatus, VerificationStatus
from monitoring.services import incidents
from tests.monitoring.conftest import record_jobs
from tests.monitoring.factories import BackupFactory

HX = {"HTTP_HX_REQUEST": "true"}
PANEL = reverse("monitoring:panel", args=["backups"])


@pytest.fixture
def celery_not_eager():
    from uscpis.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


# --- Broker down when a backup or a verification is queued ---------------------------------
# The job goes through the outbox (issue #11): the request answers 2xx, the row waits as
# "queued, waiting for the task broker", and the relay hands it over once, when it is back.


def _broker_back(monkeypatch, task) -> list[dict]:
    """The broker is back: a stand-in records what the relay publishes for ``task``."""
    from accounts.models import OutboxMessage

    queued = record_jobs(monkeypatch, task)
    OutboxMessage.objects.update(available_at=timezone.now())  # its backoff has passed
    return queued


@pytest.mark.django_db(transaction=True)
def test_start_with_the_broker_down_queues_the_backup_and_the_relay_hands_it_over_once(
    client_for, admin_user, broker_down, celery_not_eager, monkeypatch
):
    from accounts import outbox
    from accounts.models import OutboxMessage

    client = client_for(admin_user)
    client.raise_request_exception = False
    response = client.post(reverse("monitoring:backup_start"), {}, **HX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Backup queued" in body and "waiting for the task broker" in body
    assert 'id="backup-progress-poll"' in body and 'hx-trigger="every 10s"' in body
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.PENDING and backup.in_progress
    message = OutboxMessage.objects.get(task=jobs.RUN_BACKUP_TASK)
    assert message.sent_at is None and message.attempts == 1  # the kick failed, it waits
    assert "OperationalError" in message.last_error or message.last_error
    # A second request is refused (one is waiting), and so is a restore.
    again = client.post(reverse("monitoring:backup_start"), {}, **HX)
    assert again.status_code == 409 and "already waiting" in again.content.decode()
    # Two hours of outage: the reaper leaves it alone (its job has not reached a worker).
    later = timezone.now() + timedelta(hours=2)
    assert prune.backups_reap_stale(now=later) == []
    backup.refresh_from_db()
    assert backup.status == BackupStatus.PENDING

    queued = _broker_back(monkeypatch, tasks.run_backup)
    assert outbox.relay() == 1
    assert outbox.relay() == 0  # the next beat run publishes nothing again
    assert queued == [{"backup_id": backup.pk}]
    # Published just now: the reaper's hour counts from here, not from the request.
    assert prune.backups_reap_stale() == []
    # The worker runs it (a redelivery does nothing more).
    tasks.run_backup(backup_id=backup.pk)
    tasks.run_backup(backup_id=backup.pk)
    backup.refresh_from_db()
    assert backup.status == BackupStatus.SUCCEEDED
    assert Backup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_pending_backup_published_long_ago_is_still_reaped(admin_user, monkeypatch):
    """The outbox only shields a job it still holds: one handed to the broker over an hour
    ago that no worker started is lost as before."""
    from accounts import outbox
    from accounts.models import OutboxMessage

    queued = record_jobs(monkeypatch, tasks.run_backup)
    backup = create.backup_request(actor=admin_user)
    assert queued == [{"backup_id": backup.pk}]  # the kick after commit published it
    assert outbox.relay() == 0
    OutboxMessage.objects.update(sent_at=timezone.now() - timedelta(hours=2))
    Backup.objects.filter(pk=backup.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert prune.backups_reap_stale() == [backup.pk]


@pytest.mark.django_db(transaction=True)
def test_verify_with_the_broker_down_waits_and_runs_once_when_it_is_back(
    client_for, admin_user, broker_down, celery_not_eager, monkeypatch
):
    from accounts import outbox
    from accounts.models import OutboxMessage

    backup = BackupFactory(verification_status=VerificationStatus.PASSED)
    client = client_for(admin_user)
    client.raise_request_exception = False
    url = reverse("monitoring:backup_verify", args=[backup.pk])

    response = client.post(url, **HX)

    assert response.status_code == 200
    body = response.content.decode()
    assert f"Verification of backup #{backup.pk} queued" in body
    assert "waiting for the task broker" in body
    backup.refresh_from_db()
    assert backup.verification_status == VerificationStatus.PENDING and backup.in_progress
    assert client.post(url, **HX).status_code == 409  # already waiting
    assert prune.backups_reap_stale(now=timezone.now() + timedelta(hours=2)) == []

    queued = _broker_back(monkeypatch, tasks.verify_backup)
    assert outbox.relay() == 1 and outbox.relay() == 0
    assert queued == [{"backup_id": backup.pk}]
    # At-least-once delivery: the second delivery of the same message verifies nothing.
    message = OutboxMessage.objects.get(task=jobs.VERIFY_BACKUP_TASK)
    ran = []
    monkeypatch.setattr(
        "monitoring.backups.verify.backup_verify", lambda **kw: ran.append(kw["backup_id"])
    )
    tasks.verify_backup(**message.kwargs)
    tasks.verify_backup(**message.kwargs)
    assert ran == [backup.pk]


# --- The reaper (in the health check) -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_backup_whose_worker_died_is_failed_and_stops_blocking(admin_user, backup_dir):
    """The worker was killed mid-backup: the row says running, nobody holds its lock. A
    redelivered task does nothing (it only claims pending rows); the health check fails
    it, removes the partial folder and alerts."""
    (backup_dir / "partial").mkdir(parents=True)
    backup = BackupFactory(
        status=BackupStatus.RUNNING,
        checksum="",
        folder="partial",
        created_at=timezone.now() - timedelta(minutes=20),
        started_at=timezone.now() - timedelta(minutes=20),
        finished_at=None,
    )
    tasks.run_backup(backup_id=backup.pk)  # redelivery
    backup.refresh_from_db()
    assert backup.status == BackupStatus.RUNNING

    outcome = incidents.health_check_run({"database": None})

    backup.refresh_from_db()
    assert backup.status == BackupStatus.FAILED and "Interrupted" in backup.error
    assert not backup.in_progress and not (backup_dir / "partial").exists()
    assert outcome["stale_backups"] == f"1 marked failed: #{backup.pk}"
    create.backup_request(actor=admin_user, enqueue=False)  # not blocked
    from accounts.models import Notification

    assert Notification.objects.filter(user=admin_user, title__contains="failed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_backup_still_being_made_is_left_alone():
    backup = BackupFactory(
        status=BackupStatus.RUNNING,
        checksum="",
        started_at=timezone.now() - timedelta(hours=3),
        finished_at=None,
    )
    with locks.job_guard("backup", backup.pk) as mine:  # the live process's lock
        assert mine
        assert prune.backups_reap_stale() == []
        with locks.job_guard("backup", backup.pk) as second:
            assert not second  # a duplicate delivery would not run it twice
    backup.refresh_from_db()
    assert backup.status == BackupStatus.RUNNING
    assert prune.backups_reap_stale() == [backup.pk]  # its process is gone now


@pytest.mark.django_db(transaction=True)
def test_pending_rows_nobody_picked_up_are_given_up(client_for, admin_user):
    old = timezone.now() - timedelta(hours=2)
    lost = BackupFactory(status=BackupStatus.PENDING, checksum="", created_at=old)
    fresh = BackupFactory(status=BackupStatus.PENDING, checksum="")
    lost_check = BackupFactory(
        verification_status=VerificationStatus.PENDING, verification_requested_at=old
    )
    fresh_check = BackupFactory(
        verification_status=VerificationStatus.PENDING, verification_requested_at=timezone.now()
    )
    dead_check = BackupFactory(verification_status=VerificationStatus.RUNNING)

    reaped = prune.backups_reap_stale()

    assert sorted(reaped) == sorted([lost.pk, lost_check.pk, dead_check.pk])
    states = dict(Backup.objects.values_list("pk", "status"))
    assert states[lost.pk] == BackupStatus.FAILED and states[fresh.pk] == BackupStatus.PENDING
    checks = dict(Backup.objects.values_list("pk", "verification_status"))
    assert checks[lost_check.pk] == checks[dead_check.pk] == VerificationStatus.UNVERIFIED
    assert checks[fresh_check.pk] == VerificationStatus.PENDING
    # The panel shows why and, with only the fresh rows left in progress, still polls them;
    # once those are done it stops.
    body = client_for(admin_user).get(PANEL, **HX).content.decode()
    assert "No worker started this backup within an hour" in body
    Backup.objects.filter(pk__in=[fresh.pk, fresh_check.pk]).delete()
    body = client_for(admin_user).get(PANEL, **HX).content.decode()
    assert "backup-progress-poll" not in body


@pytest.mark.django_db(transaction=True)
def test_a_lost_job_picked_up_late_does_nothing():
    backup = BackupFactory(
        status=BackupStatus.PENDING,
        checksum="",
        created_at=timezone.now() - timedelta(hours=2),
    )
    prune.backups_reap_stale()
    tasks.run_backup(backup_id=backup.pk)  # the lost message turns up after all
    backup.refresh_from_db()
    assert backup.status == BackupStatus.FAILED and backup.started_at is None


# --- Two simultaneous requests ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_backup_requests_at_once_queue_one_backup(admin_user, monkeypatch):
    """Real threads, real transactions: the check and the insert are serialised."""
    from django.core.exceptions import ValidationError

    record_jobs(monkeypatch, tasks.run_backup)
    real_busy = jobs.restore_busy_reason

    def slow_busy():  # widen the gap between "is one queued?" and the insert
        threading.Event().wait(0.3)
        return real_busy()

    monkeypatch.setattr(restore_jobs, "restore_busy_reason", slow_busy)
    start = threading.Barrier(2)
    results: list[str] = []

    def request_backup():
        try:
            start.wait()
            create.backup_request(actor=admin_user)
            results.append("queued")
        except ValidationError as exc:
            results.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=request_backup) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["A backup is already waiting or running.", "queued"]
    assert Backup.objects.filter(status=BackupStatus.PENDING).count() == 1
