"""Housekeeping: deleting backups past the retention policy and failing lost backup and
verification runs."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from monitoring.backups import layout, locks, offsite
from monitoring.backups.jobs import (
    QUEUE_WAIT_LIMIT,
    RUN_BACKUP_TASK,
    RUNNING_GRACE,
    VERIFY_BACKUP_TASK,
    Say,
    _quiet,
    restore_busy_reason,
)
from monitoring.models import (
    Backup,
    BackupStatus,
    VerificationStatus,
)
from monitoring.pg import BackupError
from monitoring.services.alerts import alert_admins


def backup_prune(
    *,
    now=None,
    keep_daily: int = 7,
    keep_weekly: int = 4,
    keep_monthly: int = 12,
    say: Say = _quiet,
    dry_run: bool = False,
) -> list[int]:
    """Delete backups outside the retention: one per day for the 7 newest days that have a
    usable backup, per ISO week for 4 weeks, per month for 12 months. Returns deleted ids.

    Within a day (week, month) the backup kept is the newest verified one, else the newest
    not yet verified: a backup that failed verification never fills a slot (it is kept
    for the daily window for a look, then deleted like a failed backup). Never deleted:
    the newest verified backup, and any backup being made or verified. Refuses
    (``BackupError``) while a restore is queued or running, since it may be restoring one
    of them.
    """
    now = now or timezone.now()
    busy = restore_busy_reason()
    if busy:
        raise BackupError(f"Not pruning now: {busy}")
    in_progress = Q(status__in=[BackupStatus.PENDING, BackupStatus.RUNNING]) | Q(
        verification_status__in=[VerificationStatus.PENDING, VerificationStatus.RUNNING]
    )
    settled = list(Backup.objects.exclude(in_progress).order_by("-created_at", "-id"))
    usable = [
        b
        for b in settled
        if b.status == BackupStatus.SUCCEEDED and b.verification_status != VerificationStatus.FAILED
    ]
    keep: set[int] = set()
    for key_of, limit in (
        (lambda b: timezone.localtime(b.created_at).date(), keep_daily),
        (lambda b: timezone.localtime(b.created_at).isocalendar()[:2], keep_weekly),
        (
            lambda b: (
                timezone.localtime(b.created_at).year,
                timezone.localtime(b.created_at).month,
            ),
            keep_monthly,
        ),
    ):
        slots: dict = {}
        for b in usable:  # newest first, so slots fill newest first
            slots.setdefault(key_of(b), []).append(b)
        for candidates in list(slots.values())[:limit]:
            verified = [b for b in candidates if b.is_verified]
            keep.add((verified or candidates)[0].pk)
    newest_verified = next((b for b in usable if b.is_verified), None)
    if newest_verified:
        keep.add(newest_verified.pk)
    window_start = now - timedelta(days=keep_daily)
    usable_ids = {b.pk for b in usable}
    doomed = [
        b
        for b in settled
        if b.pk not in keep and (b.pk in usable_ids or b.created_at < window_start)
    ]
    deleted = []
    for b in doomed:
        say(
            f"  {'would delete' if dry_run else 'deleting'} backup #{b.pk} ({b.created_at:%Y-%m-%d %H:%M})"
        )
        if dry_run:
            continue
        if restore_busy_reason():
            say("  stopping: a restore was requested meanwhile")
            break
        # A guarded DELETE: a verification that began since the list was read keeps it.
        removed, _ = Backup.objects.filter(pk=b.pk).exclude(in_progress).delete()
        if not removed:
            continue
        if b.folder:
            shutil.rmtree(layout.backup_root() / b.folder, ignore_errors=True)
        if b.remote_location:
            try:
                offsite.delete(b.remote_location)
            except BackupError as exc:
                say(f"  warning: {exc}")
        deleted.append(b.pk)
    return deleted


def backups_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail the backup and verification rows whose job is lost, so they stop blocking new
    backups and restores and the page stops polling them; returns the backups' ids.

    - waiting for a worker (backup, or verification) for over ``QUEUE_WAIT_LIMIT``: the
      message was lost or no worker runs. A worker that gets it later does nothing (the
      row is no longer pending).
    - running while no process holds its lock (``locks.job_guard``), after
      ``RUNNING_GRACE``: the process died (worker killed, machine restarted).
    A lost backup is marked failed (admins alerted, partial folder removed); a lost
    verification goes back to "not verified", as nothing is known about the backup.
    Every change is a guarded UPDATE, so a job that finishes meanwhile keeps its result.
    """

    now = now or timezone.now()
    # A job the outbox has not handed to the broker yet (broker down), or handed over less
    # than QUEUE_WAIT_LIMIT ago, is not lost: the hour counts from when it was published.
    # (The outbox is only read when something is waiting at all, which is rare.)
    since = now - QUEUE_WAIT_LIMIT
    held_backups = held_checks = set()
    if Backup.objects.filter(status=BackupStatus.PENDING).exists():
        held_backups = outbox.waiting_for(RUN_BACKUP_TASK, "backup_id", sent_since=since)
    if Backup.objects.filter(verification_status=VerificationStatus.PENDING).exists():
        held_checks = outbox.waiting_for(VERIFY_BACKUP_TASK, "backup_id", sent_since=since)
    making = RawSQL(*locks.jobs_running_sql("backup"))  # noqa: S611 (constant SQL)
    verifying = RawSQL(*locks.jobs_running_sql("verify"))  # noqa: S611
    lost_backups = {
        "No worker started this backup within an hour (is a worker running?).": Q(
            status=BackupStatus.PENDING, created_at__lt=now - QUEUE_WAIT_LIMIT
        )
        & ~Q(pk__in=held_backups),
        "Interrupted: the process making this backup stopped (worker restarted or killed).": Q(
            status=BackupStatus.RUNNING, started_at__lt=now - RUNNING_GRACE
        )
        & ~Q(pk__in=making),
    }
    lost_checks = {
        "Verification not run: no worker started it within an hour.": Q(
            verification_status=VerificationStatus.PENDING
        )
        & (
            Q(verification_requested_at__lt=now - QUEUE_WAIT_LIMIT)
            | Q(verification_requested_at__isnull=True)
        )
        & ~Q(pk__in=held_checks),
        "Verification interrupted: the process verifying this backup stopped.": Q(
            verification_status=VerificationStatus.RUNNING
        )
        & ~Q(pk__in=verifying),
    }
    reaped: list[int] = []
    for reason, lost in lost_backups.items():
        for backup in Backup.objects.filter(lost):
            if not Backup.objects.filter(lost, pk=backup.pk).update(
                status=BackupStatus.FAILED,
                finished_at=now,
                progress_message="Failed",
                error=reason,
                folder="",
            ):
                continue  # it finished (or started) meanwhile
            if backup.folder:
                shutil.rmtree(layout.backup_root() / backup.folder, ignore_errors=True)
            alert_admins(
                title=f"Backup #{backup.pk} failed", body=reason, url=reverse("monitoring:monitor")
            )
            reaped.append(backup.pk)
    for reason, lost in lost_checks.items():
        for pk in Backup.objects.filter(lost).values_list("pk", flat=True):
            if Backup.objects.filter(lost, pk=pk).update(
                verification_status=VerificationStatus.UNVERIFIED, progress_message=reason
            ):
                reaped.append(pk)
    return reaped
