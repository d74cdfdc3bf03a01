"""Backups, incidents and failed background tasks.

A backup's files (``database.dump``, ``media.tar.gz``, ``manifest.json``) are the source of
truth; the ``Backup`` row indexes them and records how the run went. Restoring a backup
rewinds every table but a few (this one and the audit trail among them, see
``monitoring.backups.layout.PRESERVED_TABLES``), whose rows it keeps aside and puts back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class BackupKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    SCHEDULED = "scheduled", "Scheduled"
    SAFETY = "safety", "Safety (before a restore)"


class BackupStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class VerificationStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified"
    PENDING = "pending", "Verification queued"
    RUNNING = "running", "Verifying"
    PASSED = "passed", "Verified"
    FAILED = "failed", "Verification failed"


class RestoreJobStatus(models.TextChoices):
    """A restore requested from the web. Kept in the cache, not in a table: while
    ``pg_restore`` runs it holds locks on every table (see ``monitoring.backups.restore_jobs.backup_restore_request``)."""

    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Restoring"
    DONE = "done", "Restored"
    FAILED = "failed", "Failed"


class Backup(models.Model):
    kind = models.CharField(max_length=16, choices=BackupKind.choices, default=BackupKind.MANUAL)
    status = models.CharField(
        max_length=16, choices=BackupStatus.choices, default=BackupStatus.PENDING
    )
    with_media = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    folder = models.CharField(max_length=100, blank=True)  # under the backup directory
    size_bytes = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True)  # SHA-256 of database.dump
    manifest = models.JSONField(default=dict, blank=True)
    remote_location = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    verification_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNVERIFIED
    )
    verification_requested_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_detail = models.TextField(blank=True)
    last_restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "finished_at"]),
            models.Index(fields=["verification_status", "finished_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="backup_progress_0_100"),
            models.CheckConstraint(
                condition=Q(status__in=BackupStatus.values), name="backup_status_valid"
            ),
            models.CheckConstraint(condition=Q(size_bytes__gte=0), name="backup_size_nonneg"),
            models.CheckConstraint(
                condition=~Q(status=BackupStatus.SUCCEEDED) | ~Q(checksum=""),
                name="backup_succeeded_has_checksum",
            ),
        ]

    def __str__(self) -> str:
        return f"Backup #{self.pk} ({self.get_status_display()})"

    @property
    def in_progress(self) -> bool:
        return self.status in (BackupStatus.PENDING, BackupStatus.RUNNING) or (
            self.verification_status in (VerificationStatus.PENDING, VerificationStatus.RUNNING)
        )

    @property
    def is_verified(self) -> bool:
        return self.verification_status == VerificationStatus.PASSED


class IncidentKind(models.TextChoices):
    DATABASE = "database", "Database unreachable"
    BROKER = "broker", "Broker unreachable"
    WORKER = "worker", "No worker answering"
    BACKUP_AGE = "backup_age", "No recent good backup"
    DISK = "disk", "Disk almost full"


class Incident(models.Model):
    """One problem from when it was noticed until it cleared; admins are emailed at both ends.

    At most one open incident per kind (partial unique constraint), so a check that runs
    every few minutes alerts once, not every time.
    """

    kind = models.CharField(max_length=16, choices=IncidentKind.choices)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    recovery_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_incident_per_kind",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("opened_at")),
                name="incident_resolved_after_opened",
            ),
        ]
        indexes = [models.Index(fields=["resolved_at", "opened_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} since {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class TaskFailure(models.Model):
    """A Celery task that raised (recorded by the ``task_failure`` signal)."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, blank=True)
    exception = models.TextField()
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.task_name}: {self.exception[:60]}"
