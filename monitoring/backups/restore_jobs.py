"""Restores requested from the web: one at a time, run by the worker, reporting progress
through the cache so the page can follow a restore that replaces the database."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from monitoring.backups import locks
from monitoring.backups.jobs import (
    RESTORE_JOB_KEY,
    RESTORE_LOCK_KEY,
    RESTORE_TOO_LATE_TEXT,
    RUN_RESTORE_TASK,
    Progress,
    _lock_queue,
    restore_busy_reason,
    restore_job_state,
    restore_job_too_late,
)
from monitoring.backups.restore import _failure_text, backup_restore
from monitoring.models import (
    Backup,
    BackupStatus,
    RestoreJobStatus,
)
from monitoring.pg import BackupError
from uscpis.request_context import current_origin

logger = logging.getLogger(__name__)

#
# A restore takes minutes, far longer than a web request may live (gunicorn kills it after
# 30 s), so the web queues it for the worker and the page polls. The job's progress cannot
# go in a table: pg_restore --single-transaction holds locks on every table until it
# commits. It lives in the cache instead (Redis in production, the file cache in
# development; both shared by the web processes and the worker), under a random id nobody
# can guess, for RESTORE_JOB_TTL. One key, RESTORE_LOCK_KEY, names the job that is queued
# or running; the worker also holds ``locks.restore_guard`` (a PostgreSQL advisory lock)
# while it restores, which is what really keeps two restores apart, whoever started them.


RESTORE_CLAIM_KEY = "monitoring:restore-job-claimed:{}"


RESTORE_JOB_TTL = 24 * 3600  # the report stays readable for a day


RESTORE_LOCK_TTL = 3600  # refreshed by every progress update; a lost job frees it in an hour


class RestoreBusy(ValidationError):
    """Another restore (or a backup) is queued or running."""


def _job_update(job_id: str, **changes) -> dict | None:
    # Read-modify-write is safe: once queued, only the one worker that claimed it writes.
    state = restore_job_state(job_id)
    if state is None:
        return None
    state.update(changes, updated_at=timezone.now().isoformat())
    cache.set(RESTORE_JOB_KEY.format(job_id), state, RESTORE_JOB_TTL)
    return state


def _release_restore_lock(job_id: str) -> None:
    if cache.get(RESTORE_LOCK_KEY) == job_id:
        cache.delete(RESTORE_LOCK_KEY)


def backup_restore_request(*, actor: User, backup: Backup) -> str:
    """Queue a restore of ``backup`` for the worker (after commit); return the job's id.

    The id is random (192 bits), so only the person it is shown to can follow the job.
    Refuses with ``RestoreBusy`` while another restore is queued or running (from the web
    or the command line) or a backup is being made, and with ``ValidationError`` for a
    backup that did not succeed. Two admins clicking at once: the check and the claim run
    under a transaction-scoped advisory lock, so exactly one of them gets the job. The
    request is audited now (the restore keeps the audit trail as it is), and
    ``backup_restore`` audits the outcome afterwards with the request's details.
    """
    if backup.status != BackupStatus.SUCCEEDED:
        raise ValidationError(f"Backup #{backup.pk} did not succeed, so it cannot be restored.")
    job_id = secrets.token_urlsafe(24)
    now = timezone.now()
    asked = current_origin.get()  # the web request that asked (set by the middleware)
    origin = {
        "via": "web",
        "requested_at": now.isoformat(),
        "requested_from": asked.ip if asked else "",
        "request_id": asked.request_id if asked else "",
    }
    job = {
        "id": job_id,
        "backup_id": backup.pk,
        "status": RestoreJobStatus.QUEUED.value,
        "percent": 0,
        "message": "Waiting for a worker",
        "requested_by_id": actor.pk,
        "requested_by": str(actor),
        "requested_at": now.isoformat(),
        "started_at": None,
        "finished_at": None,
        "updated_at": now.isoformat(),
        "origin": origin,
        "report": None,
        "error": "",
    }
    with transaction.atomic():
        # The file cache's add() is not atomic; this makes check-then-claim atomic between
        # web processes whatever the cache (and against a backup being requested).
        _lock_queue()
        busy = restore_busy_reason()
        if (
            not busy
            and Backup.objects.filter(
                status__in=[BackupStatus.PENDING, BackupStatus.RUNNING],
                created_at__gte=now - timedelta(hours=6),
            ).exists()
        ):
            busy = "A backup is being made: restore when it has finished."
        if busy:
            raise RestoreBusy(busy)
        cache.delete(RESTORE_LOCK_KEY)  # only a stale lock can be left here
        if not cache.add(RESTORE_LOCK_KEY, job_id, RESTORE_LOCK_TTL):
            raise RestoreBusy("Another restore was requested at the same moment.")
        try:
            cache.set(RESTORE_JOB_KEY.format(job_id), job, RESTORE_JOB_TTL)
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=backup,
                detail={"backup": "restore requested"},
            )
        except BaseException:
            _release_restore_lock(job_id)
            raise
        # Through the outbox: with the broker down the job waits (the page says so) and
        # starts when the broker is back, unless it waited past RESTORE_START_LIMIT.
        outbox.enqueue(RUN_RESTORE_TASK, job_id=job_id)
    return job_id


def _finish_job(job_id: str, **changes) -> None:
    _job_update(job_id, finished_at=timezone.now().isoformat(), **changes)
    _release_restore_lock(job_id)


def _job_progress(job_id: str) -> Progress:
    """Progress to the job's cache entry (at most every 2 s unless the percent moves)."""
    last = {"percent": -1, "at": 0.0}

    def progress(percent: int, message: str) -> None:
        now = time.monotonic()
        if percent != last["percent"] or now - last["at"] > 2:
            changes = {"percent": min(percent, 99), "message": message[:200]}
            if last["percent"] < 0:
                changes.update(
                    status=RestoreJobStatus.RUNNING.value, started_at=timezone.now().isoformat()
                )
            _job_update(job_id, **changes)
            cache.touch(RESTORE_LOCK_KEY, RESTORE_LOCK_TTL)
            last.update(percent=percent, at=now)

    return progress


def backup_restore_run(*, job_id: str) -> dict | None:
    """Run a restore queued by ``backup_restore_request`` (the worker's side); return the
    job's final state.

    Runs a job at most once: it is claimed in the cache first, so a duplicate delivery does
    nothing. Progress, then the report or the error, go to the job's cache entry, written
    while the restore lock is still held (so a page never sees a "running" job that nobody
    runs, which it would call interrupted); the queue lock is released whatever happens.
    Never raises for a failed restore: the error is on the job (and in the audit trail).
    """
    job = restore_job_state(job_id)
    if job is None or job["status"] != RestoreJobStatus.QUEUED:
        return job
    if not cache.add(RESTORE_CLAIM_KEY.format(job_id), 1, RESTORE_JOB_TTL):
        return job
    if restore_job_too_late(job):
        _finish_job(
            job_id,
            status=RestoreJobStatus.FAILED.value,
            message="Not started",
            error=RESTORE_TOO_LATE_TEXT,
        )
        return restore_job_state(job_id)
    try:
        with locks.restore_guard():
            _finish_job(job_id, **_run_restore_job(job))
    except Exception as exc:  # from the guard: another restore runs, or no database
        _finish_job(
            job_id,
            status=RestoreJobStatus.FAILED.value,
            message="Not started",
            error=_failure_text(exc)[:4000],
        )
    return restore_job_state(job_id)


def _run_restore_job(job: dict) -> dict:

    try:
        backup = Backup.objects.filter(pk=job["backup_id"]).first()
        if backup is None:
            raise BackupError(f"Backup #{job['backup_id']} no longer exists.")
        report = backup_restore(
            backup=backup,
            actor=User.objects.filter(pk=job["requested_by_id"]).first(),
            confirm=True,
            progress=_job_progress(job["id"]),
            audit_detail=job["origin"],
        )
    except Exception as exc:
        logger.warning("Restore job for backup #%s failed: %s", job["backup_id"], exc)
        return {
            "status": RestoreJobStatus.FAILED.value,
            "message": "Failed",
            "error": _failure_text(exc)[:4000],
        }
    return {
        "status": RestoreJobStatus.DONE.value,
        "percent": 100,
        "message": "Restored",
        "report": report.as_dict(),
    }
