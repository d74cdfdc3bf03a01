"""``manage.py backup create|list|verify|restore|prune|import``: backups that really restore.

``import FOLDER`` registers a backup folder this database does not know (one made by
another installation, or before moving to a new PostgreSQL major version) after checking
its files against its manifest, so it can be verified and restored by id.

Every subcommand prints progress for long steps and exits non-zero on failure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from monitoring.backups import checks, create, prune, restore, verify
from monitoring.backups import layout as backups
from monitoring.models import Backup, BackupKind, BackupStatus, VerificationStatus
from monitoring.pg import BackupError


class Command(BaseCommand):
    help = "Create, list, verify, restore and prune backups (database dump + optional media)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create_parser = sub.add_parser("create", help="make a backup now")
        create_parser.add_argument(
            "--with-media", action="store_true", help="also archive uploaded files"
        )
        sub.add_parser("list", help="list backups")
        verify_parser = sub.add_parser(
            "verify", help="check checksums and restore into a scratch database"
        )
        verify_parser.add_argument("backup_id", type=int)
        restore_parser = sub.add_parser(
            "restore", help="replace the database (and media) with a backup"
        )
        restore_parser.add_argument("backup_id", type=int)
        restore_parser.add_argument(
            "--yes", action="store_true", help="confirm: current data will be replaced"
        )
        imp = sub.add_parser("import", help="register a backup folder made elsewhere")
        imp.add_argument(
            "folder", help="a backup folder (with manifest.json), under BACKUP_DIR or anywhere"
        )
        prune_parser = sub.add_parser(
            "prune", help="apply retention (7 daily, 4 weekly, 12 monthly)"
        )
        prune_parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, action: str, **opts):
        say = self.stdout.write
        try:
            getattr(self, f"do_{action}")(say, **opts)
        except (BackupError, ValidationError) as exc:
            message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(message) from exc

    def _get(self, backup_id: int) -> Backup:
        try:
            return Backup.objects.get(pk=backup_id)
        except Backup.DoesNotExist as exc:
            raise CommandError(f"There is no backup #{backup_id}.") from exc

    def do_create(self, say, *, with_media: bool = False, **_):
        say(f"Creating a backup{' with media' if with_media else ''}...")
        backup = create.backup_create(with_media=with_media, say=say)
        say(
            self.style.SUCCESS(
                f"Backup #{backup.pk} done in {backup.folder}: {filesizeformat(backup.size_bytes)} in "
                f"{backup.duration_seconds:.1f} s, sha256 {backup.checksum[:16]}…"
                + (f", copied to {backup.remote_location}" if backup.remote_location else "")
            )
        )

    def do_list(self, say, **_):
        rows = Backup.objects.order_by("-created_at", "-id")
        if not rows:
            say("No backups.")
            return
        say(
            f"{'ID':>5}  {'Created (local time)':<20} {'Status':<10} {'Size':>10}  {'Verified':<12} Stored"
        )
        for b in rows:
            where = "local" if b.status == BackupStatus.SUCCEEDED else "-"
            if b.remote_location:
                where += f" + {b.remote_location}"
            say(
                f"{b.pk:>5}  {timezone.localtime(b.created_at):%Y-%m-%d %H:%M:%S}  {b.status:<10} "
                f"{filesizeformat(b.size_bytes) if b.size_bytes else '-':>10}  "
                f"{b.get_verification_status_display():<12} {where}"
            )

    def do_verify(self, say, *, backup_id: int, **_):
        backup = self._get(backup_id)
        say(f"Verifying backup #{backup.pk}...")
        backup = verify.backup_verify(backup_id=backup.pk, say=say, alert=False)
        if backup.verification_status != VerificationStatus.PASSED:
            raise CommandError(
                f"Backup #{backup.pk} FAILED verification: {backup.verification_detail}"
            )
        say(self.style.SUCCESS(f"Backup #{backup.pk} verified: {backup.verification_detail}"))

    def do_restore(self, say, *, backup_id: int, yes: bool = False, **_):
        backup = self._get(backup_id)
        if not yes:
            raise CommandError(
                f"Restoring backup #{backup.pk} replaces ALL current data. Re-run with --yes to confirm."
            )
        report = restore.backup_restore(backup=backup, confirm=True, say=say)
        for line in report.lines():
            say(line)
        say(self.style.SUCCESS("Restore complete."))

    def do_import(self, say, *, folder: str, **_):

        source = Path(folder).resolve()
        manifest = backups.read_manifest(source)
        problems = checks.check_files(source, manifest)
        if problems:
            raise CommandError(f"{source} is not a usable backup: {'; '.join(problems)}")
        root = backups.backup_root()
        if source.parent != root.resolve():
            target = root / f"imported-{source.name}"
            if target.exists():
                raise CommandError(f"{target} already exists")
            shutil.copytree(source, target)
            backups.owner_only(target)
            source = target
        files = manifest.get("files") or {}
        backup = Backup.objects.create(
            kind=BackupKind.MANUAL,
            status=BackupStatus.SUCCEEDED,
            with_media=backups.MEDIA_FILE in files,
            finished_at=timezone.now(),
            folder=source.name,
            size_bytes=backups.folder_size(source),
            checksum=files[backups.DB_FILE]["sha256"],
            manifest=manifest,
        )
        say(
            self.style.SUCCESS(
                f"Imported {source.name} as backup #{backup.pk} (made {manifest.get('created_at', '?')}, "
                f"PostgreSQL {manifest.get('server_version', '?')}); restore it with: "
                f"manage.py backup restore {backup.pk} --yes"
            )
        )

    def do_prune(self, say, *, dry_run: bool = False, **_):
        deleted = prune.backup_prune(say=say, dry_run=dry_run)
        say(
            f"{'Would delete' if dry_run else 'Deleted'} {len(deleted) if not dry_run else ''} backups."
            if not dry_run
            else "Dry run: nothing deleted."
        )
