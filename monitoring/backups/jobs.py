"""What backup, verification and restore jobs share: progress callbacks, the queue lock and
the limits after which a job counts as lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.dateformat import format as date_format

from monitoring.backups import layout, locks
from monitoring.models import (
    Backup,
    RestoreJobStatus,
)

Say = Callable[[str], None]


Progress = layout.Progress


def _quiet(_line: str) -> None:
    pass


def _no_progress(_percent: int, _message: str) -> None:
    pass


def _progress_writer(
    backup_id: int, say: Say, also: Progress | None = None
) -> Callable[[int, str], None]:
    last = {"percent": -1, "at": 0.0}

    def progress(percent: int, message: str) -> None:
        now = time.monotonic()
        if percent != last["percent"] or now - last["at"] > 2:
            Backup.objects.filter(pk=backup_id).update(
                progress=min(percent, 100), progress_message=message[:200]
            )
            last.update(percent=percent, at=now)
            say(f"  {percent:3d}% {message}")
            if also is not None:
                also(percent, message)

    return progress


# The jobs' Celery tasks, as the outbox names them (``accounts.outbox.enqueue``).
RUN_BACKUP_TASK = "monitoring.tasks.run_backup"
VERIFY_BACKUP_TASK = "monitoring.tasks.verify_backup"
RUN_RESTORE_TASK = "monitoring.tasks.run_restore"


# One transaction-scoped advisory lock serialises "is a backup or restore queued or
# running?" and the claim that follows, for backups and restores alike.
_QUEUE_LOCK_KEY = 7_368_270_102


# A queued backup or verification no worker has started after this long is given up.
QUEUE_WAIT_LIMIT = timedelta(hours=1)


# A row marked running without its process's lock is only failed after this long (rows
# written before the lock existed, and the instant between the claim and the lock).
RUNNING_GRACE = timedelta(minutes=5)


def _lock_queue() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_QUEUE_LOCK_KEY])


RESTORE_JOB_KEY = "monitoring:restore-job:{}"


RESTORE_LOCK_KEY = "monitoring:restore-lock"


def restore_job_state(job_id: str) -> dict | None:
    """The job's state as stored (JSON-able), or None when unknown or expired."""
    if not job_id:
        return None
    return cache.get(RESTORE_JOB_KEY.format(job_id))


# A restore rewinds the data to the backup: one that could not start soon after it was
# asked for (the broker was down for longer) is not run hours later over the work entered
# since. Its lock has expired by then too, so something else may have been started.
RESTORE_START_LIMIT = timedelta(hours=1)  # = the restore lock's lifetime


RESTORE_TOO_LATE_TEXT = (
    "Not started: no worker could start this restore within an hour of the request (the "
    "task broker was unreachable). Nothing was changed; request it again if still wanted."
)


def restore_job_too_late(job: dict, *, now=None) -> bool:
    """A queued job asked for longer ago than ``RESTORE_START_LIMIT``."""
    requested = job.get("requested_at")
    if job.get("status") != RestoreJobStatus.QUEUED or not requested:
        return False
    when = datetime.fromisoformat(requested)
    return (now or timezone.now()) - when > RESTORE_START_LIMIT


def restore_busy_reason() -> str:
    """Why a restore cannot be queued now ("" when it can). A lock left by a job whose worker
    died mid-restore (running, but nobody holds the restore lock) does not count."""
    holder = cache.get(RESTORE_LOCK_KEY)
    if holder:
        job = restore_job_state(holder)
        stale = job is None or job["status"] in (RestoreJobStatus.DONE, RestoreJobStatus.FAILED)
        if job is not None and job["status"] == RestoreJobStatus.RUNNING:
            stale = not locks.restore_running()
        if not stale:
            when = timezone.localtime(datetime.fromisoformat(job["requested_at"]))
            return (
                f"A restore of backup #{job['backup_id']} requested by {job['requested_by']} "
                f"at {date_format(when, 'g:i A')} is "
                f"{RestoreJobStatus(job['status']).label.lower()}. "
                "Only one restore can run at a time: wait for it to finish."
            )
    if locks.restore_running():
        return "A restore started from the command line is running: wait for it to finish."
    return ""
