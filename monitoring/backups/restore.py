"""Restoring a backup over the live system (command line and worker), with its audit events."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.audit import audit_record
from accounts.backends import forget_all_users
from accounts.models import AuditAction, User
from monitoring.backups import checks, layout, locks, restore_engine
from monitoring.backups.create import backup_create, backup_folder
from monitoring.backups.jobs import Progress, Say, _no_progress, _quiet
from monitoring.models import (
    Backup,
    BackupKind,
)
from monitoring.pg import BackupError
from patients import search_cache

logger = logging.getLogger(__name__)


@dataclass
class RestoreReport:
    backup: Backup
    safety_backup: Backup
    tables_changed: list[restore_engine.TableChange] = field(default_factory=list)
    media: restore_engine.MediaChange | None = None
    migrated: bool = False

    def lines(self) -> list[str]:
        out = [
            f"Restored backup #{self.backup.pk}; safety backup #{self.safety_backup.pk} holds the state before."
        ]
        if not self.tables_changed:
            out.append("No table's row count changed.")
        for change in self.tables_changed:
            out.append(
                f"  {change.table}: {change.before if change.before is not None else '—'} → "
                f"{change.after if change.after is not None else '—'} rows"
            )
        if self.media is not None:
            out.append(
                f"Media: {self.media.added} added, {self.media.removed} removed, "
                f"{self.media.changed} changed."
            )
        if self.migrated:
            out.append("Applied migrations newer than the backup.")
        out.append(
            "Audit trail kept as it was (never rewound); this restore is recorded at its end."
        )
        return out

    def as_dict(self) -> dict:
        """The report as JSON-able data (kept in the cache for the web page)."""
        return {
            "backup_id": self.backup.pk,
            "safety_backup_id": self.safety_backup.pk,
            "tables_changed": [asdict(change) for change in self.tables_changed],
            "media": asdict(self.media) if self.media is not None else None,
            "migrated": self.migrated,
            "lines": self.lines(),
        }


def _span(progress: Progress, low: int, high: int) -> Progress:
    """A step's own 0-100 progress, shown as ``low``-``high`` of the whole restore."""

    def scaled(percent: int, message: str) -> None:
        progress(low + (high - low) * max(0, min(percent, 100)) // 100, message)

    return scaled


def _still_there(actor):
    """The acting user as the (possibly rewound) database now has them, or None."""
    if actor is None:
        return None

    return User.objects.filter(pk=actor.pk).first()


def backup_restore(
    *,
    backup: Backup,
    actor=None,
    confirm: bool,
    say: Say = _quiet,
    progress: Progress | None = None,
    audit_detail: dict | None = None,
) -> RestoreReport:
    """Replace the database (and media, when backed up) with ``backup``, in this process.

    Refuses without ``confirm``, and while another restore runs (``BackupError``; the
    ``locks.restore_guard`` lock). Checks the files' checksums first, then takes a safety
    backup of the current state (refusing to go on if that fails). The database restore is
    one transaction: if it fails, nothing changed and the safety backup is there anyway.
    Afterwards migrations newer than the backup are applied, so the site keeps working.

    Audit: the audit trail is not rewound (``layout.PRESERVED_TABLES``): every event up
    to the restore is still there afterwards, and the outcome is appended to it: the
    restore (with ``audit_detail``, e.g. who asked from where when the web queued it) or,
    on failure, the reason before re-raising. ``progress`` hears the whole restore as 0-99%.
    """
    if not confirm:
        raise ValidationError("Restoring replaces all current data: confirmation is required.")
    progress = progress or _no_progress
    with locks.restore_guard():
        try:
            report = _restore(backup, actor=actor, say=say, progress=progress)
        except Exception as exc:
            _audit_restore_failed(backup, actor, exc, audit_detail)
            raise
        progress(99, "Recording the restore")
        Backup.objects.filter(pk=backup.pk).update(
            last_restored_at=timezone.now(), progress=100, progress_message="Restored"
        )
        now_actor = _still_there(actor)
        audit_record(
            actor=now_actor,
            actor_email=actor.email if actor is not None else "",
            action=AuditAction.UPDATE,
            obj=backup,
            detail={
                "backup": "restored",
                "safety_backup": report.safety_backup.pk,
                "tables_changed": len(report.tables_changed),
                **(audit_detail or {}),
            },
        )
    report.backup = Backup.objects.get(pk=backup.pk)
    return report


def _restore(backup: Backup, *, actor, say: Say, progress: Progress) -> RestoreReport:
    progress(2, "Checking the backup's files")
    folder = backup_folder(backup)
    manifest = layout.read_manifest(folder)
    problems = checks.check_files(folder, manifest, backup.checksum)
    if problems:
        raise BackupError("Refusing to restore a damaged backup: " + "; ".join(problems))
    say(f"Taking a safety backup before restoring #{backup.pk}...")
    safety_progress = _span(progress, 5, 40)

    def safety_step(percent: int, message: str) -> None:
        safety_progress(percent, f"Safety backup of the current data: {message}")

    safety = backup_create(
        actor=actor,
        with_media=backup.with_media,
        kind=BackupKind.SAFETY,
        say=say,
        progress=safety_step,
    )
    say(f"Safety backup #{safety.pk} done. Restoring the database...")
    database_progress = _span(progress, 40, 90)

    def database_step(percent: int, message: str) -> None:
        # Printed and passed on only: the restore holds locks on every table, this one too.
        say(f"  {percent:3d}% {message}")
        database_progress(percent, f"Replacing the database: {message}")

    database_step(0, "waiting for other connections to let go of the tables")
    changes = restore_engine.restore_database(folder, database_step)
    forget_all_users()  # the signed-in user cache holds rows of the replaced table
    search_cache.PAST_CAP.replace({search_cache.EVERY_PATIENT})  # searches past the cap
    report = RestoreReport(backup=backup, safety_backup=safety, tables_changed=changes)
    if layout.MEDIA_FILE in manifest.get("files", {}):
        say("Restoring media files...")
        progress(91, "Restoring uploaded files")
        report.media = restore_engine.restore_media(folder)

    progress(95, "Checking for migrations newer than the backup")
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        say("Applying migrations newer than the backup...")
        progress(96, "Applying migrations newer than the backup")
        call_command("migrate", interactive=False, verbosity=0)
        report.migrated = True
    return report


def _failure_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, BackupError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


def _audit_restore_failed(backup: Backup, actor, exc: Exception, extra) -> None:
    """Best effort: after a failure part-way the database may not take the event."""
    try:
        audit_record(
            actor=_still_there(actor),
            actor_email=actor.email if actor is not None else "",
            action=AuditAction.UPDATE,
            obj=backup,
            allowed=True,
            detail={"backup": "restore failed", "error": _failure_text(exc)[:500], **(extra or {})},
        )
    except Exception:
        logger.exception("Could not audit the failed restore of backup #%s", backup.pk)
