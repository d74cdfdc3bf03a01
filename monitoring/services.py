"""Writes for backups, incidents and failed tasks. Each returns the model it changed.

Backups are long: ``backup_execute`` and ``backup_verify`` record progress on the row with
short separate writes (so the page can poll it) and never hold a transaction open while
``pg_dump`` or ``pg_restore`` runs.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.roles import Role
from monitoring import backups, offsite
from monitoring.models import (
    Backup,
    BackupKind,
    BackupStatus,
    Incident,
    IncidentKind,
    TaskFailure,
    VerificationStatus,
)
from monitoring.pg import BackupError

Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


# --- Alerts ----------------------------------------------------------------------------


def admin_emails() -> list[str]:
    from accounts.models import User

    emails = set(settings.ADMINS_EMAILS)
    emails.update(
        User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True)
    )
    return sorted(emails)


def alert_admins(*, title: str, body: str, url: str = "", category: str = "monitoring") -> None:
    """In-app notification (emailed by preference) to every active admin, plus an email to
    the ``ADMIN_EMAILS`` addresses that are not users."""
    from accounts.models import User
    from accounts.services import notify
    from uscpis.mail import send_templated_email

    admins = list(User.objects.filter(role=Role.ADMIN, is_active=True))
    for admin in admins:
        notify(user=admin, title=title, body=body, url=url, category=category)
    extra = sorted(set(settings.ADMINS_EMAILS) - {a.email for a in admins})
    if extra:
        transaction.on_commit(
            lambda: send_templated_email(
                to=extra,
                subject=title,
                template="monitoring_alert",
                context={"title": title, "body": body, "url": url},
            )
        )


# --- Backups ---------------------------------------------------------------------------


def _progress_writer(backup_id: int, say: Say) -> Callable[[int, str], None]:
    last = {"percent": -1, "at": 0.0}

    def progress(percent: int, message: str) -> None:
        now = time.monotonic()
        if percent != last["percent"] or now - last["at"] > 2:
            Backup.objects.filter(pk=backup_id).update(
                progress=min(percent, 100), progress_message=message[:200]
            )
            last.update(percent=percent, at=now)
            say(f"  {percent:3d}% {message}")

    return progress


def backup_request(
    *,
    actor,
    with_media: bool = False,
    kind: str = BackupKind.MANUAL,
    request=None,
    enqueue: bool = True,
) -> Backup:
    """Record a backup to be made; a worker makes it (enqueued after commit).

    Refuses (``ValidationError``) while another backup is waiting or running.
    """
    with transaction.atomic():
        if (
            enqueue
            and Backup.objects.select_for_update()
            .filter(
                status__in=[BackupStatus.PENDING, BackupStatus.RUNNING],
                created_at__gte=timezone.now() - timedelta(hours=6),
            )
            .exists()
        ):
            raise ValidationError("A backup is already waiting or running.")
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
            from monitoring.tasks import run_backup

            transaction.on_commit(lambda: run_backup.delay(backup_id=backup.pk))
    return backup


def backup_execute(*, backup_id: int, say: Say = _quiet, alert: bool = True) -> Backup:
    """Make the backup recorded as pending: dump, media archive, manifest, off-site copy.

    The pending row is claimed with a guarded UPDATE, so a duplicate delivery does nothing.
    On failure the row is marked failed with the reason, admins are alerted, the partial
    folder is removed and ``BackupError`` is raised.
    """
    started = timezone.now()
    claimed = Backup.objects.filter(pk=backup_id, status=BackupStatus.PENDING).update(
        status=BackupStatus.RUNNING, started_at=started, progress=1, progress_message="Starting"
    )
    backup = Backup.objects.get(pk=backup_id)
    if not claimed:
        return backup
    folder_name = f"{started:%Y%m%dT%H%M%SZ}-{backup_id}"
    folder = backups.backup_root() / folder_name
    progress = _progress_writer(backup_id, say)
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
    }


def backup_create(
    *,
    actor=None,
    with_media: bool = False,
    kind: str = BackupKind.MANUAL,
    say: Say = _quiet,
    alert: bool = True,
) -> Backup:
    """Make a backup now, in this process (the command line and the safety backup)."""
    backup = backup_request(actor=actor, with_media=with_media, kind=kind, enqueue=False)
    return backup_execute(backup_id=backup.pk, say=say, alert=alert)


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
    """Queue a verification (the worker restores into a scratch database)."""
    with transaction.atomic():
        updated = (
            Backup.objects.filter(pk=backup.pk, status=BackupStatus.SUCCEEDED)
            .exclude(
                verification_status__in=[VerificationStatus.PENDING, VerificationStatus.RUNNING]
            )
            .update(verification_status=VerificationStatus.PENDING)
        )
        if not updated:
            raise ValidationError(
                "This backup cannot be verified now (failed, or already being verified)."
            )
        audit_record(
            actor=actor,
            action="update",
            obj=backup,
            request=request,
            detail={"backup": "verify requested"},
        )
        from monitoring.tasks import verify_backup

        transaction.on_commit(lambda: verify_backup.delay(backup_id=backup.pk))
    backup.refresh_from_db()
    return backup


def backup_verify(*, backup_id: int, say: Say = _quiet, alert: bool = True) -> Backup:
    """Check checksums and restore into a scratch database; record the verdict.

    A failed verification marks the backup failed-verification and alerts admins; it does
    not raise, so callers read ``verification_status``.
    """
    backup = Backup.objects.get(pk=backup_id)
    Backup.objects.filter(pk=backup_id).update(
        verification_status=VerificationStatus.RUNNING, progress_message="Verifying"
    )
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
        return out


def backup_restore(
    *, backup: Backup, actor=None, confirm: bool, say: Say = _quiet, request=None
) -> RestoreReport:
    """Replace the database (and media, when backed up) with ``backup``.

    Refuses without ``confirm``. Checks the files' checksums first, then takes a safety
    backup of the current state (refusing to go on if that fails). The database restore is
    one transaction: if it fails, nothing changed and the safety backup is there anyway.
    Afterwards migrations newer than the backup are applied, so the site keeps working.
    """
    if not confirm:
        raise ValidationError("Restoring replaces all current data: confirmation is required.")
    folder = backup_folder(backup)
    manifest = backups.read_manifest(folder)
    problems = backups.check_files(folder, manifest, backup.checksum)
    if problems:
        raise BackupError("Refusing to restore a damaged backup: " + "; ".join(problems))
    say(f"Taking a safety backup before restoring #{backup.pk}...")
    safety = backup_create(
        actor=actor, with_media=backup.with_media, kind=BackupKind.SAFETY, say=say
    )
    say(f"Safety backup #{safety.pk} done. Restoring the database...")

    def progress(percent: int, message: str) -> None:
        # Printed only: the restore holds locks on every table, including this one.
        say(f"  {percent:3d}% {message}")

    changes = backups.restore_database(folder, progress)
    report = RestoreReport(backup=backup, safety_backup=safety, tables_changed=changes)
    if backups.MEDIA_FILE in manifest.get("files", {}):
        say("Restoring media files...")
        report.media = backups.restore_media(folder)
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        say("Applying migrations newer than the backup...")
        call_command("migrate", interactive=False, verbosity=0)
        report.migrated = True
    Backup.objects.filter(pk=backup.pk).update(
        last_restored_at=timezone.now(), progress=100, progress_message="Restored"
    )
    audit_record(
        actor=actor,
        action="update",
        obj=backup,
        request=request,
        detail={"backup": "restored", "safety_backup": safety.pk, "tables_changed": len(changes)},
    )
    report.backup = Backup.objects.get(pk=backup.pk)
    return report


def backup_prune(
    *,
    now=None,
    keep_daily: int = 7,
    keep_weekly: int = 4,
    keep_monthly: int = 12,
    say: Say = _quiet,
    dry_run: bool = False,
) -> list[int]:
    """Delete backups outside the retention (newest per day for 7 days, per ISO week for 4
    weeks, per month for 12 months). The newest verified backup is never deleted, nor one
    in progress. Failed backups are removed after the daily window. Returns deleted ids."""
    now = now or timezone.now()
    keep: set[int] = set()
    good = list(Backup.objects.filter(status=BackupStatus.SUCCEEDED).order_by("-created_at", "-id"))
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
        seen = []
        for b in good:
            key = key_of(b)
            if key in seen:
                continue
            if len(seen) >= limit:
                break
            seen.append(key)
            keep.add(b.pk)
    newest_verified = (
        Backup.objects.filter(
            status=BackupStatus.SUCCEEDED, verification_status=VerificationStatus.PASSED
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if newest_verified:
        keep.add(newest_verified.pk)
    doomed = [b for b in good if b.pk not in keep]
    doomed += list(
        Backup.objects.filter(
            status=BackupStatus.FAILED, created_at__lt=now - timedelta(days=keep_daily)
        )
    )
    deleted = []
    for b in doomed:
        say(
            f"  {'would delete' if dry_run else 'deleting'} backup #{b.pk} ({b.created_at:%Y-%m-%d %H:%M})"
        )
        if dry_run:
            continue
        if b.folder:
            shutil.rmtree(backups.backup_root() / b.folder, ignore_errors=True)
        if b.remote_location:
            try:
                offsite.delete(b.remote_location)
            except BackupError as exc:
                say(f"  warning: {exc}")
        deleted.append(b.pk)
        b.delete()
    return deleted


# --- Incidents -------------------------------------------------------------------------


def incident_open(*, kind: str, detail: str) -> tuple[Incident, bool]:
    """Open an incident of ``kind`` unless one is open; alert admins only when it is new."""
    with transaction.atomic():
        incident, created = Incident.objects.get_or_create(
            kind=kind, resolved_at__isnull=True, defaults={"detail": detail[:2000]}
        )
        if created:
            incident.alerted_at = timezone.now()
            incident.save(update_fields=["alerted_at"])
            alert_admins(
                title=f"Problem: {incident.get_kind_display()}",
                body=detail[:1000],
                url=reverse("monitoring:monitor"),
                category="incident",
            )
    return incident, created


def incident_resolve(*, kind: str) -> Incident | None:
    """Close the open incident of ``kind`` (if any) and send the recovery message."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update().filter(kind=kind, resolved_at__isnull=True).first()
        )
        if incident is None:
            return None
        incident.resolved_at = incident.recovery_sent_at = timezone.now()
        incident.save(update_fields=["resolved_at", "recovery_sent_at"])
        lasted = incident.resolved_at - incident.opened_at
        alert_admins(
            title=f"Recovered: {incident.get_kind_display()}",
            body=f"Back to normal after {int(lasted.total_seconds() // 60)} minutes.",
            url=reverse("monitoring:monitor"),
            category="incident",
        )
    return incident


def incidents_evaluate(findings: dict[str, str | None]) -> dict[str, str]:
    """Apply findings (kind → problem text, or None when fine) to the incidents."""
    outcome = {}
    for kind, problem in findings.items():
        if kind not in IncidentKind.values:
            continue
        if problem:
            _, created = incident_open(kind=kind, detail=problem)
            outcome[kind] = "opened" if created else "still open"
        elif incident_resolve(kind=kind):
            outcome[kind] = "resolved"
    return outcome


DB_DOWN_KEY = "monitoring:database-down-since"
ADMIN_EMAILS_KEY = "monitoring:admin-emails"


def health_check_run(findings: dict[str, str | None]) -> dict[str, str]:
    """Act on health findings. A database outage cannot be recorded in the database, so it
    is tracked in the cache (one email to the admins' last known addresses) and written as
    an incident once the database answers again."""
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
        Incident.objects.create(
            kind=IncidentKind.DATABASE,
            detail="Database was unreachable",
            opened_at=opened,
            alerted_at=opened,
            resolved_at=timezone.now(),
            recovery_sent_at=timezone.now(),
        )
        alert_admins(
            title="Recovered: Database unreachable",
            body=f"The database answers again (down since {opened:%Y-%m-%d %H:%M} UTC).",
            url=reverse("monitoring:monitor"),
            category="incident",
        )
        cache.delete(DB_DOWN_KEY)
        outcome["database"] = "resolved"
    cache.set(ADMIN_EMAILS_KEY, admin_emails(), None)
    outcome.update(incidents_evaluate({k: v for k, v in findings.items() if k != "database"}))
    return outcome


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
