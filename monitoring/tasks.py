"""Monitoring's background jobs: thin wrappers that load by id and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "monitoring:worker-heartbeat"

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_backup(*, backup_id: int) -> None:
    """Make a requested backup (idempotent: the pending row is claimed first)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.create import backup_execute

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.pg import BackupError

    try:
        backup_execute(backup_id=backup_id)
    except BackupError:
        pass  # recorded on the row and alerted; no retry for a broken dump


@shared_task(acks_late=True)
def verify_backup(*, backup_id: int, outbox_id: int | None = None) -> None:
    """Verify one backup (checksums + scratch restore); the verdict goes on the row. Once
    per outbox message: a redelivery after the verification finished does not repeat it."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts import outbox

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.verify import backup_verify

    if outbox.claim(outbox_id):
        backup_verify(backup_id=backup_id)


@shared_task(acks_late=False)
def run_restore(*, job_id: str) -> None:
    """Run a restore queued from the web page; progress and outcome go to the job's cache entry.

    Acknowledged when received, not when done: if the worker is lost mid-restore, the
    broker must not deliver it again and rewind the data a second time (work entered since
    would be lost). The page shows such a job as interrupted instead.
    """
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.restore_jobs import backup_restore_run

    backup_restore_run(job_id=job_id)


@shared_task
def nightly_backup() -> None:
    """The scheduled backup (database and media), then retention.

    Retention runs even when the backup failed (a full disk is a common reason, and
    pruning frees it; a failed backup never takes a kept backup's place). A backup that
    fails alerts the admins and raises, so the task is recorded as failed.
    """
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.create import backup_create

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.prune import backup_prune

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.models import BackupKind

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.pg import BackupError

    try:
        backup_create(kind=BackupKind.SCHEDULED, with_media=True)
    finally:
        try:
            backup_prune()
        except BackupError as exc:  # a restore is running: prune tomorrow
            logger.warning("Retention skipped: %s", exc)


@shared_task
def weekly_verify() -> None:
    """Verify the newest backup that succeeded and was never verified (alerts on failure).

    A backup that failed verification is not tried again every week; a newer one is.
    """
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.backups.verify import backup_verify

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.models import Backup, BackupStatus, VerificationStatus

    latest = (
        Backup.objects.filter(
            status=BackupStatus.SUCCEEDED, verification_status=VerificationStatus.UNVERIFIED
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is not None:
        backup_verify(backup_id=latest.pk)


@shared_task
def heartbeat() -> None:
    """Proof of life for the monitor page on brokers where Celery ping cannot work."""
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=3600)


@shared_task
def check_health() -> None:
    """Open or resolve incidents (and email admins once per incident), and fail backup rows
    whose job was lost. ``manage.py monitor_check`` does the same from cron, for when the
    broker or every worker is down."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.selectors import health_findings

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from monitoring.services.incidents import health_check_run

    health_check_run(health_findings())
