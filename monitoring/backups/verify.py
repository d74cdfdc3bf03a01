"""Verifying a backup: the request and the worker's scratch restore of it."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from monitoring.backups import checks, locks
from monitoring.backups.create import backup_folder
from monitoring.backups.jobs import (
    VERIFY_BACKUP_TASK,
    Say,
    _progress_writer,
    _quiet,
)
from monitoring.models import (
    Backup,
    BackupStatus,
    VerificationStatus,
)
from monitoring.services.alerts import alert_admins

logger = logging.getLogger(__name__)


def backup_verify_request(*, actor: User | None, backup: Backup) -> Backup:
    """Queue a verification (the worker restores into a scratch database).

    Refuses (``ValidationError``) a backup that did not succeed or is being verified. The
    job goes through the outbox (written with the "pending" state): with the broker down
    the verification waits and runs when the broker is back. The task claims its outbox
    message, so a second delivery verifies nothing twice.
    """
    with transaction.atomic():
        row = (
            Backup.objects.select_for_update()
            .filter(pk=backup.pk, status=BackupStatus.SUCCEEDED)
            .exclude(
                verification_status__in=[VerificationStatus.PENDING, VerificationStatus.RUNNING]
            )
            .first()
        )
        if row is None:
            raise ValidationError(
                "This backup cannot be verified now (failed, or already being verified)."
            )
        Backup.objects.filter(pk=backup.pk).update(
            verification_status=VerificationStatus.PENDING,
            verification_requested_at=timezone.now(),
            progress_message="Verification waiting for a worker",
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=backup,
            detail={"backup": "verify requested"},
        )
        outbox.enqueue(VERIFY_BACKUP_TASK, claim=True, backup_id=backup.pk)
    backup.refresh_from_db()
    return backup


def backup_verify(*, backup_id: int, say: Say = _quiet, alert: bool = True) -> Backup:
    """Check checksums and restore into a scratch database; record the verdict.

    Claims the backup first (a guarded UPDATE to "verifying", under the backup's verify
    lock): a duplicate delivery, or a second verification of the same backup while one
    runs, does nothing and returns the row. A failed verification marks the backup
    failed-verification and alerts admins; it does not raise, so callers read
    ``verification_status``.
    """
    with locks.job_guard("verify", backup_id) as mine:
        claimed = mine and (
            Backup.objects.filter(pk=backup_id)
            .exclude(verification_status=VerificationStatus.RUNNING)
            .update(verification_status=VerificationStatus.RUNNING, progress_message="Verifying")
        )
        if not claimed:
            return Backup.objects.get(pk=backup_id)
        return _verify(backup_id=backup_id, say=say, alert=alert)


def _verify(*, backup_id: int, say: Say, alert: bool) -> Backup:
    backup = Backup.objects.get(pk=backup_id)
    progress = _progress_writer(backup_id, say)
    try:
        folder = backup_folder(backup)
        result = checks.verify_folder(
            folder, expected_db_checksum=backup.checksum, progress=progress
        )
        status = VerificationStatus.PASSED if result.ok else VerificationStatus.FAILED
        detail = result.summary()
    except Exception as exc:
        status, detail = VerificationStatus.FAILED, f"{exc.__class__.__name__}: {exc}"[:4000]
    Backup.objects.filter(pk=backup_id).update(
        verification_status=status,
        verified_at=timezone.now(),
        verification_detail=detail,
        progress=100,
        progress_message="Verified"
        if status == VerificationStatus.PASSED
        else "Verification failed",
    )
    say(f"  {'OK' if status == VerificationStatus.PASSED else 'FAILED'}: {detail}")
    if status == VerificationStatus.FAILED and alert:
        alert_admins(
            title=f"Backup #{backup_id} failed verification",
            body=detail[:1000],
            url=reverse("monitoring:monitor"),
        )
    return Backup.objects.get(pk=backup_id)
