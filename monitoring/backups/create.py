"""Making a backup: the request from the web or the schedule, and the run in the worker.

Backups are long: progress is recorded on the row with short separate writes (so the page
can poll it) and no transaction is held open while ``pg_dump`` runs."""

from __future__ import annotations

import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction
from monitoring.backups import dump, layout, locks, offsite
from monitoring.backups.jobs import (
    RUN_BACKUP_TASK,
    Progress,
    Say,
    _lock_queue,
    _progress_writer,
    _quiet,
    restore_busy_reason,
)
from monitoring.models import (
    Backup,
    BackupKind,
    BackupStatus,
)
from monitoring.pg import BackupError
from monitoring.services.alerts import alert_admins

logger = logging.getLogger(__name__)


def backup_request(
    *,
    actor,
    with_media: bool = False,
    kind: str = BackupKind.MANUAL,
    enqueue: bool = True,
) -> Backup:
    """Record a backup to be made; a worker makes it (queued through the outbox).

    Refuses (``ValidationError``) while another backup is waiting or running, or a restore
    is queued or running; the check and the new row are serialised by an advisory lock, so
    two requests at the same moment queue one backup. The job is an outbox message written
    with the row: when the broker is down the backup stays pending ("waiting for the task
    broker") and the outbox relay hands it to a worker once the broker is back.
    """
    with transaction.atomic():
        if enqueue:
            _lock_queue()
            if Backup.objects.filter(
                status__in=[BackupStatus.PENDING, BackupStatus.RUNNING],
                created_at__gte=timezone.now() - timedelta(hours=6),
            ).exists():
                raise ValidationError("A backup is already waiting or running.")
            if restore_busy_reason():
                raise ValidationError(
                    "A restore is queued or running; back up when it has finished."
                )
        backup = Backup.objects.create(
            kind=kind,
            with_media=with_media,
            requested_by=actor,
            progress_message="Waiting for a worker",
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=backup,
            detail={"backup": "requested", "with_media": with_media, "kind": kind},
        )
        if enqueue:
            # run_backup claims the pending row first, so a second delivery does nothing.
            outbox.enqueue(RUN_BACKUP_TASK, backup_id=backup.pk)
    return backup


def backup_execute(
    *, backup_id: int, say: Say = _quiet, alert: bool = True, progress: Progress | None = None
) -> Backup:
    """Make the backup recorded as pending: dump, media archive, manifest, off-site copy.

    The pending row is claimed with a guarded UPDATE, so a duplicate delivery does nothing;
    while it runs this process holds the backup's lock (``locks.job_guard``), which tells
    ``backups_reap_stale`` it is alive. On failure the row is marked failed with the
    reason, admins are alerted, the partial folder is removed and ``BackupError`` is
    raised. ``progress`` also hears each step.
    """
    with locks.job_guard("backup", backup_id) as mine:
        if not mine:  # another process is making it
            return Backup.objects.get(pk=backup_id)
        return _execute(backup_id=backup_id, say=say, alert=alert, also=progress)


def _execute(*, backup_id: int, say: Say, alert: bool, also: Progress | None) -> Backup:
    started = timezone.now()
    claimed = Backup.objects.filter(pk=backup_id, status=BackupStatus.PENDING).update(
        status=BackupStatus.RUNNING, started_at=started, progress=1, progress_message="Starting"
    )
    backup = Backup.objects.get(pk=backup_id)
    if not claimed:
        return backup
    folder_name = f"{started:%Y%m%dT%H%M%SZ}-{backup_id}"
    folder = layout.backup_root() / folder_name
    progress = _progress_writer(backup_id, say, also=also)
    clock = time.monotonic()
    try:
        folder.mkdir(mode=0o700, parents=True)
        Backup.objects.filter(pk=backup_id).update(folder=folder_name)
        info = dump.dump_database(folder, progress)
        if backup.with_media:
            progress(82, "Archiving media files")
            info.update(dump.archive_media(folder))
        progress(88, "Writing the manifest")
        manifest = layout.write_manifest(folder, backup_id=backup_id, kind=backup.kind, info=info)
        layout.owner_only(folder)  # the dump, the media archive and the manifest: 0600
        remote = ""
        if offsite.target():
            progress(92, f"Copying off-site ({offsite.describe()})")
            remote = offsite.upload(folder)
        Backup.objects.filter(pk=backup_id).update(
            status=BackupStatus.SUCCEEDED,
            finished_at=timezone.now(),
            duration_seconds=round(time.monotonic() - clock, 2),
            progress=100,
            progress_message="Done",
            size_bytes=layout.folder_size(folder),
            checksum=manifest["files"][layout.DB_FILE]["sha256"],
            manifest=_manifest_summary(manifest),
            remote_location=remote,
            error="",
        )
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BackupError) else f"{exc.__class__.__name__}: {exc}"
        shutil.rmtree(folder, ignore_errors=True)
        Backup.objects.filter(pk=backup_id).update(
            status=BackupStatus.FAILED,
            finished_at=timezone.now(),
            duration_seconds=round(time.monotonic() - clock, 2),
            progress_message="Failed",
            error=reason[:4000],
            folder="",
        )
        if alert:
            alert_admins(
                title=f"Backup #{backup_id} failed",
                body=reason[:1000],
                url=reverse("monitoring:monitor"),
            )
        say(f"  FAILED: {reason}")
        raise BackupError(reason) from exc
    say(f"  backup #{backup_id} written to {folder}")
    return Backup.objects.get(pk=backup_id)


def _manifest_summary(manifest: dict) -> dict:
    """What the row keeps of the manifest (the full one stays next to the files)."""
    return {
        "created_at": manifest["created_at"],
        "app_version": manifest["app_version"],
        "server_version": manifest["server_version"],
        "files": manifest["files"],
        "tables": len(manifest["row_counts"]),
        "rows": sum(manifest["row_counts"].values()),
        "migrations": len(manifest["migrations"]),
        "media_files": len(manifest["media_files"] or {}),
        "audit_head": manifest.get("audit_head"),
    }


def backup_create(
    *,
    actor=None,
    with_media: bool = False,
    kind: str = BackupKind.MANUAL,
    say: Say = _quiet,
    alert: bool = True,
    progress: Progress | None = None,
) -> Backup:
    """Make a backup now, in this process (the command line and the safety backup)."""
    backup = backup_request(actor=actor, with_media=with_media, kind=kind, enqueue=False)
    return backup_execute(backup_id=backup.pk, say=say, alert=alert, progress=progress)


def backup_folder(backup: Backup, *, fetch: bool = True) -> Path:
    """The local folder of a backup, fetched back from off-site storage when it is gone."""
    if backup.status != BackupStatus.SUCCEEDED or not backup.folder:
        raise BackupError(f"Backup #{backup.pk} did not succeed; there is nothing to use.")
    folder = layout.backup_root() / backup.folder
    if not (folder / layout.MANIFEST_FILE).exists():
        if not (fetch and backup.remote_location):
            raise BackupError(f"Backup #{backup.pk}'s files are missing from {folder}.")
        names = [layout.MANIFEST_FILE, *backup.manifest.get("files", {}).keys()]
        offsite.fetch(backup.remote_location, folder, names)
    return folder
