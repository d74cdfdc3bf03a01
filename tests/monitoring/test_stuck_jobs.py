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


@pytest.mark.django_db(transaction=True)
def test_start_with_the_broker_down_says_so_and_leaves_nothing_pending(
    client_for, admin_user, broker_down, celery_not_eager
):
    client = client_for(admin_user)
    client.raise_request_exception = False
    response = client.post(reverse("monitoring:backup_start"), {}, **HX)

    assert response.status_code == 503
    assert response["X-Swap-Fragment"] == "1"  # app.js swaps it in instead of a generic toast
    body = response.content.decode()
    assert "could not be queued" in body and "broker is unreachable" in body
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.FAILED and "broker is unreachable" in backup.error
    assert not backup.in_progress and "backup-progress-poll" not in body
    # Nothing blocks the next try, nor a restore.
    assert jobs.restore_busy_reason() == ""
    again = client.post(reverse("monitoring:backup_start"), {}, **HX)
    assert again.status_code == 503 and "already waiting" not in again.content.decode()


@pytest.mark.django_db(transaction=True)
def test_verify_with_the_broker_down_says_so_and_can_be_retried(
    client_for, admin_user, broker_down, celery_not_eager, monkeypatch
):
    backup = BackupFactory(verification_status=VerificationStatus.PASSED)
    client = client_for(admin_user)
    client.raise_request_exception = False
    url = reverse("monitoring:backup_verify", args=[backup.pk])

    response = client.post(url, **HX)

    assert response.status_code == 503
    assert "verification could not be queued" in response.content.decode()
    backup.refresh_from_db()
    assert backup.verification_status == VerificationStatus.PASSED  # as it was
    assert not backup.in_progress
    # Once the broker is back (a stand-in records the job), it can be verified.
    queued = []
    monkeypatch.setattr(tasks.verify_backup, "delay", lambda **kw: queued.append(kw))
    assert client.post(url, **HX).status_code == 200
    assert queued == [{"backup_id": backup.pk}]


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

    monkeypatch.setattr(tasks.run_backup, "delay", lambda **kw: None)
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
