"""Writes for backups, restores, incidents and failed tasks. Each returns what it changed.

Backups are long: ``backup_execute`` and ``backup_verify`` record progress on the row with
short separate writes (so the page can poll it) and never hold a transaction open while
``pg_dump`` or ``pg_restore`` runs. A restore requested from the web runs in the worker too,
but reports its progress through the cache (see "Restores requested from the web").
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

from accounts.audit import audit_record
from accounts.roles import Role
from monitoring import backups, offsite
from monitoring.models import (
    Backup,
    BackupKind,
    BackupStatus,
    Incident,
    IncidentKind,
    RestoreJobStatus,
    TaskFailure,
    VerificationStatus,
)
from monitoring.pg import BackupError
from uscpis.http import client_ip

Say = Callable[[str], None]
Progress = backups.Progress

logger = logging.getLogger(__name__)


def _quiet(_line: str) -> None:
    pass


def _no_progress(_percent: int, _message: str) -> None:
    pass


# --- Alerts ----------------------------------------------------------------------------


def admin_emails() -> list[str]:
    from accounts.models import User

    emails = set(settings.ADMINS_EMAILS)
    emails.update(
        User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True)
    )
    return sorted(emails)


def alert_recipients() -> list[str]:
    """Where monitoring alerts are emailed: active admins who take email notifications, and
    the ``ADMIN_EMAILS`` addresses."""
    from accounts.models import User

    emails = set(settings.ADMINS_EMAILS)
    emails.update(
        User.objects.filter(role=Role.ADMIN, is_active=True, email_notifications=True).values_list(
            "email", flat=True
        )
    )
    return sorted(e for e in emails if e)


def admin_alert_email_send(*, title: str, body: str, url: str = "") -> int:
    """Email an alert to ``alert_recipients()`` now, through the email backend itself.

    Never through the task broker: an alert is often about the broker or the workers being
    down. Returns the number of messages handed to the backend; raises what it raises.
    """
    from uscpis.mail import send_templated_email

    to = alert_recipients()
    if not to:
        return 0
    return send_templated_email(
        to=to,
        subject=title,
        template="monitoring_alert",
        context={"title": title, "body": body, "url": url},
    )


def _notify_admins_in_app(*, title: str, body: str, url: str, category: str) -> None:
    from accounts.models import User
    from accounts.services import notify

    for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
        notify(user=admin, title=title, body=body, url=url, category=category, email=False)


def alert_admins(*, title: str, body: str, url: str = "", category: str = "monitoring") -> None:
    """In-app notification to every active admin, and one email to ``alert_recipients()``
    sent by this process once the surrounding transaction commits (see
    ``admin_alert_email_send``). A failing email backend is logged, never raised: the
    alert's cause (a failed backup, say) is what the caller reports."""
    _notify_admins_in_app(title=title, body=body, url=url, category=category)

    def send() -> None:
        try:
            admin_alert_email_send(title=title, body=body, url=url)
        except Exception:
            logger.exception("Could not email the alert %r", title)

    transaction.on_commit(send, robust=True)


# --- Backups ---------------------------------------------------------------------------


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


class QueueUnavailable(ValidationError):
    """The task broker did not take the job, so no worker will run it."""


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


def _not_queued_text(what: str, exc: Exception | None = None) -> str:
    cause = f" ({exc.__class__.__name__}: {exc})"[:400] if exc is not None else ""
    return (
        f"The {what} could not be queued: the task broker is unreachable, so no worker can "
        f"start it. Nothing was started; try again when the broker is back.{cause}"
    )


def backup_request(
    *,
    actor,
    with_media: bool = False,
    kind: str = BackupKind.MANUAL,
    request=None,
    enqueue: bool = True,
) -> Backup:
    """Record a backup to be made; a worker makes it (enqueued after commit).

    Refuses (``ValidationError``) while another backup is waiting or running, or a restore
    is queued or running; the check and the new row are serialised by an advisory lock, so
    two requests at the same moment queue one backup. When the broker does not take the
    job, the row is marked failed with the reason and ``QueueUnavailable`` is raised (once
    the transaction has committed).
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
            action="create",
            obj=backup,
            request=request,
            detail={"backup": "requested", "with_media": with_media, "kind": kind},
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue_backup(backup.pk), robust=True)
    if enqueue:
        backup.refresh_from_db()
        if backup.status == BackupStatus.FAILED:
            raise QueueUnavailable(backup.error)
    return backup


def _enqueue_backup(backup_id: int) -> None:
    from kombu.exceptions import OperationalError

    from monitoring.tasks import run_backup

    try:
        run_backup.delay(backup_id=backup_id)
    except OperationalError as exc:
        logger.warning("Backup #%s not queued: %s", backup_id, exc)
        Backup.objects.filter(pk=backup_id, status=BackupStatus.PENDING).update(
            status=BackupStatus.FAILED,
            finished_at=timezone.now(),
            progress_message="Not queued",
            error=_not_queued_text("backup", exc),
        )


def backup_execute(
    *, backup_id: int, say: Say = _quiet, alert: bool = True, progress: Progress | None = None
) -> Backup:
    """Make the backup recorded as pending: dump, media archive, manifest, off-site copy.

    The pending row is claimed with a guarded UPDATE, so a duplicate delivery does nothing;
    while it runs this process holds the backup's lock (``backups.job_guard``), which tells
    ``backups_reap_stale`` it is alive. On failure the row is marked failed with the
    reason, admins are alerted, the partial folder is removed and ``BackupError`` is
    raised. ``progress`` also hears each step.
    """
    with backups.job_guard("backup", backup_id) as mine:
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
    folder = backups.backup_root() / folder_name
    progress = _progress_writer(backup_id, say, also=also)
    clock = time.monotonic()
    try:
        folder.mkdir(parents=True)
        Backup.objects.filter(pk=backup_id).update(folder=folder_name)
        info = backups.dump_database(folder, progress)
        if backup.with_media:
            progress(82, "Archiving media files")
            info.update(backups.archive_media(folder))
        progress(88, "Writing the manifest")
        manifest = backups.write_manifest(folder, backup_id=backup_id, kind=backup.kind, info=info)
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
            size_bytes=backups.folder_size(folder),
            checksum=manifest["files"][backups.DB_FILE]["sha256"],
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
    folder = backups.backup_root() / backup.folder
    if not (folder / backups.MANIFEST_FILE).exists():
        if not (fetch and backup.remote_location):
            raise BackupError(f"Backup #{backup.pk}'s files are missing from {folder}.")
        names = [backups.MANIFEST_FILE, *backup.manifest.get("files", {}).keys()]
        offsite.fetch(backup.remote_location, folder, names)
    return folder


def backup_verify_request(*, actor, backup: Backup, request=None) -> Backup:
    """Queue a verification (the worker restores into a scratch database).

    Refuses (``ValidationError``) a backup that did not succeed or is being verified. When
    the broker does not take the job, the verification state goes back to what it was and
    ``QueueUnavailable`` is raised (once the transaction has committed).
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
        previous = row.verification_status
        Backup.objects.filter(pk=backup.pk).update(
            verification_status=VerificationStatus.PENDING,
            verification_requested_at=timezone.now(),
            progress_message="Verification waiting for a worker",
        )
        audit_record(
            actor=actor,
            action="update",
            obj=backup,
            request=request,
            detail={"backup": "verify requested"},
        )
        transaction.on_commit(lambda: _enqueue_verify(backup.pk, previous), robust=True)
    backup.refresh_from_db()
    if backup.progress_message.startswith(_VERIFY_NOT_QUEUED):
        raise QueueUnavailable(_not_queued_text("verification"))
    return backup


_VERIFY_NOT_QUEUED = "Verification not queued"


def _enqueue_verify(backup_id: int, previous: str) -> None:
    from kombu.exceptions import OperationalError

    from monitoring.tasks import verify_backup

    try:
        verify_backup.delay(backup_id=backup_id)
    except OperationalError as exc:
        logger.warning("Verification of backup #%s not queued: %s", backup_id, exc)
        Backup.objects.filter(pk=backup_id, verification_status=VerificationStatus.PENDING).update(
            verification_status=previous,
            progress_message=f"{_VERIFY_NOT_QUEUED}: broker unreachable ({exc})"[:200],
        )


def backup_verify(*, backup_id: int, say: Say = _quiet, alert: bool = True) -> Backup:
    """Check checksums and restore into a scratch database; record the verdict.

    Claims the backup first (a guarded UPDATE to "verifying", under the backup's verify
    lock): a duplicate delivery, or a second verification of the same backup while one
    runs, does nothing and returns the row. A failed verification marks the backup
    failed-verification and alerts admins; it does not raise, so callers read
    ``verification_status``.
    """
    with backups.job_guard("verify", backup_id) as mine:
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
        result = backups.verify_folder(
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


@dataclass
class RestoreReport:
    backup: Backup
    safety_backup: Backup
    tables_changed: list[backups.TableChange] = field(default_factory=list)
    media: backups.MediaChange | None = None
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
    from accounts.models import User

    return User.objects.filter(pk=actor.pk).first()


def backup_restore(
    *,
    backup: Backup,
    actor=None,
    confirm: bool,
    say: Say = _quiet,
    request=None,
    progress: Progress | None = None,
    audit_detail: dict | None = None,
) -> RestoreReport:
    """Replace the database (and media, when backed up) with ``backup``, in this process.

    Refuses without ``confirm``, and while another restore runs (``BackupError``; the
    ``backups.restore_guard`` lock). Checks the files' checksums first, then takes a safety
    backup of the current state (refusing to go on if that fails). The database restore is
    one transaction: if it fails, nothing changed and the safety backup is there anyway.
    Afterwards migrations newer than the backup are applied, so the site keeps working.

    Audit: the audit trail is not rewound (``backups.PRESERVED_TABLES``): every event up
    to the restore is still there afterwards, and the outcome is appended to it: the
    restore (with ``audit_detail``, e.g. who asked from where when the web queued it) or,
    on failure, the reason before re-raising. ``progress`` hears the whole restore as 0-99%.
    """
    if not confirm:
        raise ValidationError("Restoring replaces all current data: confirmation is required.")
    progress = progress or _no_progress
    with backups.restore_guard():
        try:
            report = _restore(backup, actor=actor, say=say, progress=progress)
        except Exception as exc:
            _audit_restore_failed(backup, actor, exc, audit_detail, request)
            raise
        progress(99, "Recording the restore")
        Backup.objects.filter(pk=backup.pk).update(
            last_restored_at=timezone.now(), progress=100, progress_message="Restored"
        )
        now_actor = _still_there(actor)
        audit_record(
            actor=now_actor,
            actor_email=actor.email if actor is not None else "",
            action="update",
            obj=backup,
            request=request,
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
    manifest = backups.read_manifest(folder)
    problems = backups.check_files(folder, manifest, backup.checksum)
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
    changes = backups.restore_database(folder, database_step)
    report = RestoreReport(backup=backup, safety_backup=safety, tables_changed=changes)
    if backups.MEDIA_FILE in manifest.get("files", {}):
        say("Restoring media files...")
        progress(91, "Restoring uploaded files")
        report.media = backups.restore_media(folder)
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

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


def _audit_restore_failed(backup: Backup, actor, exc: Exception, extra, request) -> None:
    """Best effort: after a failure part-way the database may not take the event."""
    try:
        audit_record(
            actor=_still_there(actor),
            actor_email=actor.email if actor is not None else "",
            action="update",
            obj=backup,
            request=request,
            allowed=True,
            detail={"backup": "restore failed", "error": _failure_text(exc)[:500], **(extra or {})},
        )
    except Exception:
        logger.exception("Could not audit the failed restore of backup #%s", backup.pk)


# --- Restores requested from the web ---------------------------------------------------
#
# A restore takes minutes, far longer than a web request may live (gunicorn kills it after
# 30 s), so the web queues it for the worker and the page polls. The job's progress cannot
# go in a table: pg_restore --single-transaction holds locks on every table until it
# commits. It lives in the cache instead (Redis in production, the file cache in
# development; both shared by the web processes and the worker), under a random id nobody
# can guess, for RESTORE_JOB_TTL. One key, RESTORE_LOCK_KEY, names the job that is queued
# or running; the worker also holds ``backups.restore_guard`` (a PostgreSQL advisory lock)
# while it restores, which is what really keeps two restores apart, whoever started them.

RESTORE_JOB_KEY = "monitoring:restore-job:{}"
RESTORE_CLAIM_KEY = "monitoring:restore-job-claimed:{}"
RESTORE_LOCK_KEY = "monitoring:restore-lock"
RESTORE_JOB_TTL = 24 * 3600  # the report stays readable for a day
RESTORE_LOCK_TTL = 3600  # refreshed by every progress update; a lost job frees it in an hour


class RestoreBusy(ValidationError):
    """Another restore (or a backup) is queued or running."""


def restore_job_state(job_id: str) -> dict | None:
    """The job's state as stored (JSON-able), or None when unknown or expired."""
    if not job_id:
        return None
    return cache.get(RESTORE_JOB_KEY.format(job_id))


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


def restore_busy_reason() -> str:
    """Why a restore cannot be queued now ("" when it can). A lock left by a job whose worker
    died mid-restore (running, but nobody holds the restore lock) does not count."""
    holder = cache.get(RESTORE_LOCK_KEY)
    if holder:
        job = restore_job_state(holder)
        stale = job is None or job["status"] in (RestoreJobStatus.DONE, RestoreJobStatus.FAILED)
        if job is not None and job["status"] == RestoreJobStatus.RUNNING:
            stale = not backups.restore_running()
        if not stale:
            when = timezone.localtime(datetime.fromisoformat(job["requested_at"]))
            return (
                f"A restore of backup #{job['backup_id']} requested by {job['requested_by']} "
                f"at {date_format(when, 'g:i A')} is "
                f"{RestoreJobStatus(job['status']).label.lower()}. "
                "Only one restore can run at a time: wait for it to finish."
            )
    if backups.restore_running():
        return "A restore started from the command line is running: wait for it to finish."
    return ""


def backup_restore_request(*, actor, backup: Backup, request=None) -> str:
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
    origin = {
        "via": "web",
        "requested_at": now.isoformat(),
        "requested_from": (client_ip(request) or "") if request is not None else "",
        "request_id": getattr(request, "request_id", "") if request is not None else "",
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
                action="update",
                obj=backup,
                request=request,
                detail={"backup": "restore requested"},
            )
        except BaseException:
            _release_restore_lock(job_id)
            raise
        transaction.on_commit(lambda: _enqueue_restore(job_id))
    return job_id


def _enqueue_restore(job_id: str) -> None:
    from kombu.exceptions import OperationalError

    from monitoring.tasks import run_restore

    try:
        run_restore.delay(job_id=job_id)
    except OperationalError as exc:
        _finish_job(
            job_id,
            status=RestoreJobStatus.FAILED.value,
            message="Not queued",
            error=f"The restore could not be queued (broker: {exc}); nothing was changed.",
        )


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
    try:
        with backups.restore_guard():
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
    from accounts.models import User

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
            shutil.rmtree(backups.backup_root() / b.folder, ignore_errors=True)
        if b.remote_location:
            try:
                offsite.delete(b.remote_location)
            except BackupError as exc:
                say(f"  warning: {exc}")
        deleted.append(b.pk)
    return deleted


# --- Incidents -------------------------------------------------------------------------


def incident_open(*, kind: str, detail: str) -> tuple[Incident, bool]:
    """Open an incident of ``kind`` unless one is open; returns it and whether it is new.

    A new incident notifies the admins in the app. The email goes out after commit, sent
    by this process (``incident_alert_send``), and is tried again on every later check
    until the email backend has taken it: ``alerted_at`` is only set then.
    """
    with transaction.atomic():
        incident, created = Incident.objects.get_or_create(
            kind=kind, resolved_at__isnull=True, defaults={"detail": detail[:2000]}
        )
        if created:
            _notify_admins_in_app(
                title=f"Problem: {incident.get_kind_display()}",
                body=detail[:1000],
                url=reverse("monitoring:monitor"),
                category="incident",
            )
    if incident.alerted_at is None:
        transaction.on_commit(
            lambda: _logged(incident_alert_send, incident_id=incident.pk), robust=True
        )
    return incident, created


def incident_resolve(*, kind: str) -> Incident | None:
    """Close the open incident of ``kind`` (if any); the recovery email goes out after
    commit (``incident_recovery_send``) and is retried by later checks until sent."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update().filter(kind=kind, resolved_at__isnull=True).first()
        )
        if incident is None:
            return None
        incident.resolved_at = timezone.now()
        incident.save(update_fields=["resolved_at"])
        _notify_admins_in_app(
            title=f"Recovered: {incident.get_kind_display()}",
            body=_recovery_text(incident),
            url=reverse("monitoring:monitor"),
            category="incident",
        )
    transaction.on_commit(
        lambda: _logged(incident_recovery_send, incident_id=incident.pk), robust=True
    )
    return incident


def _recovery_text(incident: Incident) -> str:
    lasted = (incident.resolved_at or timezone.now()) - incident.opened_at
    return f"Back to normal after {int(lasted.total_seconds() // 60)} minutes."


def _logged(send: Callable[..., bool], **kwargs) -> None:
    try:
        send(**kwargs)
    except Exception:
        logger.exception("Could not email the admins (%s %s)", send.__name__, kwargs)


def incident_alert_send(*, incident_id: int) -> bool:
    """Email the admins that the open incident began; True when sent now.

    The incident row stays locked while the email is handed to the backend and
    ``alerted_at`` is set only after the backend took it, so a failing backend leaves it
    for the next check (the error is raised) and two checks at once send one email.
    """
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(pk=incident_id, resolved_at__isnull=True, alerted_at__isnull=True)
            .first()
        )
        if incident is None:
            return False
        admin_alert_email_send(
            title=f"Problem: {incident.get_kind_display()}",
            body=incident.detail[:1000],
            url=reverse("monitoring:monitor"),
        )
        incident.alerted_at = timezone.now()
        incident.save(update_fields=["alerted_at"])
    return True


def incident_recovery_send(*, incident_id: int) -> bool:
    """Email the admins that a resolved incident is over; same guarantees as
    ``incident_alert_send`` (``recovery_sent_at`` set only once the backend took it)."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(pk=incident_id, resolved_at__isnull=False, recovery_sent_at__isnull=True)
            .first()
        )
        if incident is None:
            return False
        admin_alert_email_send(
            title=f"Recovered: {incident.get_kind_display()}",
            body=_recovery_text(incident),
            url=reverse("monitoring:monitor"),
        )
        incident.recovery_sent_at = timezone.now()
        incident.save(update_fields=["recovery_sent_at"])
    return True


RECOVERY_RETRY_WINDOW = timedelta(days=1)


def _retry_recovery_emails() -> None:
    """Recovery emails the backend refused earlier (within a day of the recovery)."""
    pending = Incident.objects.filter(
        resolved_at__gte=timezone.now() - RECOVERY_RETRY_WINDOW, recovery_sent_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in pending:
        _logged(incident_recovery_send, incident_id=pk)


def incidents_evaluate(findings: dict[str, str | None]) -> dict[str, str]:
    """Apply findings (kind → problem text, or None when fine) to the incidents.

    Each kind is handled on its own: one that fails (logged, reported as "error: ...")
    does not keep the others from being opened, resolved or emailed.
    """
    outcome = {}
    for kind, problem in findings.items():
        if kind not in IncidentKind.values:
            continue
        try:
            if problem:
                incident, created = incident_open(kind=kind, detail=problem)
                outcome[kind] = "opened" if created else "still open"
                if not Incident.objects.filter(pk=incident.pk, alerted_at__isnull=False).exists():
                    outcome[kind] += "; email not sent yet"
            elif incident_resolve(kind=kind):
                outcome[kind] = "resolved"
        except Exception as exc:
            logger.exception("Health check: could not act on %s", kind)
            outcome[kind] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    return outcome


DB_DOWN_KEY = "monitoring:database-down-since"
ADMIN_EMAILS_KEY = "monitoring:admin-emails"


def health_check_run(findings: dict[str, str | None]) -> dict[str, str]:
    """Act on health findings. A database outage cannot be recorded in the database, so it
    is tracked in the cache (one email to the admins' last known addresses) and written as
    an incident once the database answers again.

    Needs neither the broker nor a worker: every email is sent by this process. Also fails
    backup and verification rows left behind by a lost job (``backups_reap_stale``).
    """
    from django.core.cache import cache

    from uscpis.mail import send_templated_email

    problem = findings.get("database")
    if problem:
        if cache.add(DB_DOWN_KEY, timezone.now().isoformat(), None):
            to = sorted(set(cache.get(ADMIN_EMAILS_KEY) or []) | set(settings.ADMINS_EMAILS))
            if to:
                send_templated_email(
                    to=to,
                    subject="Problem: Database unreachable",
                    template="monitoring_alert",
                    context={"title": "Database unreachable", "body": problem, "url": ""},
                )
        return {"database": "down"}
    outcome = {}
    since = cache.get(DB_DOWN_KEY)
    if since:
        from django.utils.dateparse import parse_datetime

        opened = parse_datetime(since) or timezone.now()
        incident = Incident.objects.create(
            kind=IncidentKind.DATABASE,
            detail="Database was unreachable",
            opened_at=opened,
            alerted_at=opened,
            resolved_at=timezone.now(),
        )
        _notify_admins_in_app(
            title="Recovered: Database unreachable",
            body=f"The database answers again (down since {opened:%Y-%m-%d %H:%M} UTC).",
            url=reverse("monitoring:monitor"),
            category="incident",
        )
        transaction.on_commit(
            lambda: _logged(incident_recovery_send, incident_id=incident.pk), robust=True
        )
        cache.delete(DB_DOWN_KEY)
        outcome["database"] = "resolved"
    try:
        cache.set(ADMIN_EMAILS_KEY, alert_recipients(), None)
    except Exception:
        logger.exception("Health check: could not remember the admins' addresses")
    _retry_recovery_emails()
    outcome.update(incidents_evaluate({k: v for k, v in findings.items() if k != "database"}))
    try:
        reaped = backups_reap_stale()
    except Exception as exc:
        logger.exception("Health check: could not look for stale backups")
        outcome["stale_backups"] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    else:
        if reaped:
            outcome["stale_backups"] = f"{len(reaped)} marked failed: " + ", ".join(
                f"#{pk}" for pk in reaped
            )
    return outcome


def backups_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail the backup and verification rows whose job is lost, so they stop blocking new
    backups and restores and the page stops polling them; returns the backups' ids.

    - waiting for a worker (backup, or verification) for over ``QUEUE_WAIT_LIMIT``: the
      message was lost or no worker runs. A worker that gets it later does nothing (the
      row is no longer pending).
    - running while no process holds its lock (``backups.job_guard``), after
      ``RUNNING_GRACE``: the process died (worker killed, machine restarted).
    A lost backup is marked failed (admins alerted, partial folder removed); a lost
    verification goes back to "not verified", as nothing is known about the backup.
    Every change is a guarded UPDATE, so a job that finishes meanwhile keeps its result.
    """
    from django.db.models.expressions import RawSQL

    now = now or timezone.now()
    making = RawSQL(*backups.jobs_running_sql("backup"))  # noqa: S611 (constant SQL)
    verifying = RawSQL(*backups.jobs_running_sql("verify"))  # noqa: S611
    lost_backups = {
        "No worker started this backup within an hour (is a worker running?).": Q(
            status=BackupStatus.PENDING, created_at__lt=now - QUEUE_WAIT_LIMIT
        ),
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
        ),
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
                shutil.rmtree(backups.backup_root() / backup.folder, ignore_errors=True)
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


# --- Failed tasks, integrations ----------------------------------------------------------


def task_failure_record(
    *, task_name: str, task_id: str, exception: str, traceback: str
) -> TaskFailure:
    return TaskFailure.objects.create(
        task_name=task_name[:200],
        task_id=(task_id or "")[:64],
        exception=exception[:4000],
        traceback=traceback[-8000:],
    )


def integration_test_email_send(*, actor, request=None) -> None:
    """Send a test email to ``actor`` through the configured backend now (errors raise)."""
    from uscpis.mail import send_templated_email

    send_templated_email(
        to=[actor.email],
        subject="Test email from the monitor page",
        template="monitoring_test",
        context={"user": actor},
    )
    audit_record(
        actor=actor,
        action="create",
        request=request,
        object_type="monitoring.test_email",
        detail={"to": actor.email},
    )
