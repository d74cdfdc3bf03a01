"""Backups that really restore: round trip, damaged files, refusals, retention, off-site."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import AuditEvent, Notification, User
from accounts.roles import Role
from monitoring import pg
from monitoring.backups import create, dump, layout, locks, prune, restore, verify
from monitoring.models import Backup, BackupStatus, VerificationStatus
from monitoring.pg import BackupError
from tests.factories import UserFactory
from tests.monitoring.factories import BackupFactory

NOT_REWOUND = set(layout.PRESERVED_TABLES) | {"accounts_auditevent"}


def _state() -> tuple[dict, dict]:
    with pg.connect() as conn:
        return pg.row_counts(conn), pg.content_checksums(conn)


def _folder(backup: Backup) -> Path:
    return layout.backup_root() / backup.folder


def _corrupt_dump(backup: Backup) -> None:
    """Replace the backup's dump with bytes pg_restore cannot read, updating the manifest
    and checksum so the file checks pass and the failure comes from pg_restore itself."""
    folder = _folder(backup)
    (folder / layout.DB_FILE).write_bytes(b"PGDMP" + b"\x00garbage" * 100)
    manifest = json.loads((folder / layout.MANIFEST_FILE).read_text())
    digest = layout.sha256_file(folder / layout.DB_FILE)
    manifest["files"][layout.DB_FILE] = {
        "sha256": digest,
        "size": (folder / layout.DB_FILE).stat().st_size,
    }
    (folder / layout.MANIFEST_FILE).write_text(json.dumps(manifest))
    Backup.objects.filter(pk=backup.pk).update(checksum=digest)
    backup.refresh_from_db()


def _media_files() -> dict[str, bytes]:
    root = Path(default_storage.location)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.django_db(transaction=True)
def test_round_trip_restores_every_table_and_media(admin_user):
    nurses = UserFactory.create_batch(3, role=Role.NURSE)
    for nurse in nurses:
        Notification.objects.create(user=nurse, title="Shift change", body="Ward 2")
    default_storage.save("documents/xray.txt", ContentFile(b"x-ray report"))
    default_storage.save("documents/lab.txt", ContentFile(b"lab result v1"))

    backup = create.backup_create(actor=admin_user, with_media=True)
    assert backup.status == BackupStatus.SUCCEEDED
    counts_then, checksums_then = _state()
    media_then = _media_files()
    manifest = layout.read_manifest(_folder(backup))
    assert {"database.dump", "media.tar.gz"} == set(manifest["files"])
    assert manifest["row_counts"]["accounts_user"] == User.objects.count()
    assert manifest["migrations"] and manifest["app_version"]
    assert all(len(meta["sha256"]) == 64 for meta in manifest["files"].values())

    # Change, delete and add data and files after the backup.
    User.objects.filter(pk=nurses[0].pk).update(first_name="Changed")
    Notification.objects.filter(user=nurses[1]).delete()
    User.objects.filter(pk=nurses[2].pk).delete()
    UserFactory(role=Role.DOCTOR, email="late.doctor@usc.edu.ph")
    default_storage.delete("documents/xray.txt")
    with default_storage.open("documents/lab.txt", "wb") as fh:
        fh.write(b"lab result v2")
    default_storage.save("documents/new.txt", ContentFile(b"added later"))
    assert _state()[1] != checksums_then
    trail_before = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))

    report = restore.backup_restore(backup=backup, actor=admin_user, confirm=True)

    counts_now, checksums_now = _state()
    for table in counts_then:
        if table in NOT_REWOUND:
            continue
        assert counts_now[table] == counts_then[table], table
        assert checksums_now[table] == checksums_then[table], table
    # The audit trail is not rewound: every event is still there, then the safety backup's
    # and the restore's own (see test_restore_keeps_the_audit_trail for more).
    trail_now = list(AuditEvent.objects.order_by("id"))
    assert [(e.pk, e.hash) for e in trail_now[: len(trail_before)]] == trail_before
    assert [e.detail.get("backup") for e in trail_now[len(trail_before) :]] == [
        "requested",
        "restored",
    ]
    assert _media_files() == media_then
    assert report.media.added == 1 and report.media.removed == 1 and report.media.changed == 1
    assert "accounts_notification" in {c.table for c in report.tables_changed}
    # The backup list survived the restore: both the restored and the safety backup.
    assert set(Backup.objects.values_list("pk", flat=True)) == {backup.pk, report.safety_backup.pk}
    assert Backup.objects.get(pk=backup.pk).last_restored_at is not None
    # The site works afterwards: new rows get fresh ids, pages answer.
    UserFactory(role=Role.NURSE, email="after.restore@usc.edu.ph")
    from django.test import Client

    from tests.conftest import login

    assert login(Client(), admin_user).get("/monitoring/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_verify_passes_for_a_good_backup_and_command_lists_it(admin_user, capsys):
    backup = create.backup_create(actor=admin_user)
    call_command("backup", "verify", str(backup.pk))
    backup.refresh_from_db()
    assert backup.verification_status == VerificationStatus.PASSED
    assert backup.verified_at is not None
    call_command("backup", "list")
    out = capsys.readouterr().out
    assert f"{backup.pk:>5}" in out and "Verified" in out and "local" in out


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_verify_catches_a_damaged_dump(admin_user, damage):
    backup = create.backup_create(actor=admin_user)
    dump = _folder(backup) / layout.DB_FILE
    data = dump.read_bytes()
    if damage == "truncate":
        dump.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        dump.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    with pytest.raises(CommandError, match="FAILED verification"):
        call_command("backup", "verify", str(backup.pk))
    backup.refresh_from_db()
    assert backup.verification_status == VerificationStatus.FAILED
    assert "SHA-256" in backup.verification_detail or "bytes" in backup.verification_detail


@pytest.mark.django_db(transaction=True)
def test_verify_compares_row_counts_after_a_scratch_restore(admin_user):
    backup = create.backup_create(actor=admin_user)
    folder = _folder(backup)
    manifest = json.loads((folder / layout.MANIFEST_FILE).read_text())
    manifest["row_counts"]["accounts_user"] += 5
    (folder / layout.MANIFEST_FILE).write_text(json.dumps(manifest))
    result = verify.backup_verify(backup_id=backup.pk, alert=False)
    assert result.verification_status == VerificationStatus.FAILED
    assert "accounts_user" in result.verification_detail
    # The scratch database is gone afterwards.
    with pg.connect("postgres") as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'verify_%%'"
        ).fetchone()[0]
    assert left == 0


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_without_yes(admin_user):
    backup = create.backup_create(actor=admin_user)
    UserFactory(email="keep.me@usc.edu.ph")
    with pytest.raises(CommandError, match="--yes"):
        call_command("backup", "restore", str(backup.pk))
    assert User.objects.filter(email="keep.me@usc.edu.ph").exists()
    assert Backup.objects.count() == 1  # no safety backup either
    with pytest.raises(Exception, match="confirmation"):
        restore.backup_restore(backup=backup, actor=admin_user, confirm=False)


@pytest.mark.django_db(transaction=True)
def test_failing_restore_changes_nothing_and_leaves_the_safety_backup_usable(admin_user):
    backup = create.backup_create(actor=admin_user)
    _corrupt_dump(backup)  # passes the checksum checks; pg_restore cannot read it
    UserFactory(email="after.backup@usc.edu.ph")
    counts_before, checksums_before = _state()

    with pytest.raises(BackupError):
        restore.backup_restore(backup=backup, actor=admin_user, confirm=True)

    assert User.objects.filter(email="after.backup@usc.edu.ph").exists()
    counts_after, checksums_after = _state()
    safety = Backup.objects.get(kind="safety")
    assert safety.status == BackupStatus.SUCCEEDED
    for table in counts_before:
        if table not in NOT_REWOUND:
            assert checksums_after[table] == checksums_before[table], table
    verified = verify.backup_verify(backup_id=safety.pk, alert=False)
    assert verified.verification_status == VerificationStatus.PASSED, verified.verification_detail


@pytest.mark.django_db(transaction=True)
def test_failed_backup_is_recorded_and_alerts_admins(
    admin_user, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise BackupError("pg_dump failed (exit 1): disk full")

    monkeypatch.setattr(dump, "dump_database", broken)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BackupError):
        create.backup_create(actor=admin_user)
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.FAILED and "disk full" in backup.error
    assert not backup.folder and not list(layout.backup_root().iterdir())
    note = Notification.objects.get(user=admin_user)
    assert "failed" in note.title
    assert [m.to for m in mailoutbox] == [[admin_user.email]]


@pytest.mark.django_db(transaction=True)
def test_requested_backup_runs_in_the_worker_once(admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        backup = create.backup_request(actor=admin_user)
    backup.refresh_from_db()
    assert backup.status == BackupStatus.SUCCEEDED and backup.progress == 100
    assert (
        backup.size_bytes > 0 and backup.duration_seconds is not None and len(backup.checksum) == 64
    )
    # A duplicate delivery finds nothing pending and does nothing.
    again = create.backup_execute(backup_id=backup.pk)
    assert again.finished_at == backup.finished_at


@pytest.mark.django_db
def test_second_request_while_one_is_running_is_refused(admin_user):
    BackupFactory(status=BackupStatus.RUNNING, checksum="")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        create.backup_request(actor=admin_user)


@pytest.mark.django_db
def test_prune_keeps_7_daily_4_weekly_12_monthly_and_the_newest_verified():
    now = timezone.now()
    made = [
        BackupFactory(created_at=now - timedelta(days=d, hours=h))
        for d in range(400)
        for h in (0, 6)
    ]
    old_verified = made[-1]
    Backup.objects.filter(pk=old_verified.pk).update(verification_status=VerificationStatus.PASSED)
    failed_old = BackupFactory(
        status=BackupStatus.FAILED, checksum="", created_at=now - timedelta(days=30)
    )

    deleted = prune.backup_prune(now=now)

    kept = list(Backup.objects.order_by("-created_at"))
    kept_ids = {b.pk for b in kept}
    assert old_verified.pk in kept_ids
    assert failed_old.pk in deleted
    days = {timezone.localtime(b.created_at).date() for b in kept}
    assert len(kept) == len(days)  # at most one per day
    # One per day for the 7 newest local days. (Not "the last 7 x 24 hours": the newest of
    # an older week can fall inside those hours and is kept as that week's, e.g. on a
    # Sunday just after midnight in Manila.)
    newest_days = sorted({timezone.localtime(b.created_at).date() for b in made})[-7:]
    daily = [b for b in kept if timezone.localtime(b.created_at).date() in newest_days]
    assert len(daily) == 7
    months = {
        (timezone.localtime(b.created_at).year, timezone.localtime(b.created_at).month)
        for b in kept
    }
    assert len(months) == 12 + 1  # 12 monthly + the old verified one's month
    assert len(kept) <= 7 + 4 + 12 + 1
    assert made[0].pk in kept_ids  # the newest backup always stays


@pytest.mark.django_db(transaction=True)
def test_offsite_copy_to_s3_and_fetch_back_for_verify(admin_user, settings):
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    settings.BACKUP_OFFSITE = ""
    settings.BACKUP_S3_BUCKET = "uscpis-test-backups"
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="uscpis-test-backups")
        backup = create.backup_create(actor=admin_user)
        assert backup.remote_location.startswith("s3://uscpis-test-backups/")
        keys = [
            o["Key"]
            for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(
                Bucket="uscpis-test-backups"
            )["Contents"]
        ]
        assert {Path(k).name for k in keys} == {layout.DB_FILE, layout.MANIFEST_FILE}
        import shutil

        shutil.rmtree(_folder(backup))  # the server lost its disk
        verified = verify.backup_verify(backup_id=backup.pk, alert=False)
    assert verified.verification_status == VerificationStatus.PASSED, verified.verification_detail
    assert (_folder(backup) / layout.DB_FILE).exists()


def test_client_programs_match_the_server():
    major = pg.server_major()
    import subprocess

    out = subprocess.run([pg.client("pg_dump"), "--version"], capture_output=True, text=True).stdout
    assert int(out.split()[-1].split(".")[0].split("(")[0]) >= major


pytestmark = []


# --- Retention and the weekly verification choose the right backups ------------------------


@pytest.mark.django_db
def test_prune_prefers_the_verified_backup_of_a_day_over_one_that_failed_verification():
    now = timezone.now().replace(hour=12)
    yesterday = now - timedelta(days=1)
    good = BackupFactory(
        created_at=yesterday.replace(hour=2), verification_status=VerificationStatus.PASSED
    )
    corrupt = BackupFactory(
        created_at=yesterday.replace(hour=10), verification_status=VerificationStatus.FAILED
    )
    BackupFactory(created_at=now.replace(hour=2), verification_status=VerificationStatus.PASSED)

    deleted = prune.backup_prune(now=now)

    assert good.pk not in deleted and Backup.objects.filter(pk=good.pk).exists()
    assert corrupt.pk not in deleted  # kept for a look during the daily window...
    later = prune.backup_prune(now=now + timedelta(days=8))
    assert corrupt.pk in later  # ...then removed, never having held a slot


@pytest.mark.django_db
def test_prune_prefers_verified_then_unverified_and_failed_verification_fills_no_slot():
    now = timezone.now().replace(hour=12)
    day = [now - timedelta(days=d) for d in range(3)]
    # Day 0: an unverified backup after a verified one -> the verified one stays.
    verified = BackupFactory(
        created_at=day[0].replace(hour=1), verification_status=VerificationStatus.PASSED
    )
    newer_unverified = BackupFactory(created_at=day[0].replace(hour=9))
    # Day 1: only a corrupt backup: it takes no slot, so keep_daily=2 reaches day 2.
    BackupFactory(created_at=day[1], verification_status=VerificationStatus.FAILED)
    day2 = BackupFactory(created_at=day[2])

    deleted = prune.backup_prune(now=now, keep_daily=2, keep_weekly=0, keep_monthly=0)

    assert deleted == [newer_unverified.pk]
    assert {verified.pk, day2.pk} <= set(Backup.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_prune_never_deletes_a_backup_being_made_or_verified():
    now = timezone.now()
    old = now - timedelta(days=60)
    BackupFactory(created_at=now - timedelta(hours=1))
    verifying = BackupFactory(
        created_at=now - timedelta(hours=2), verification_status=VerificationStatus.RUNNING
    )
    queued = BackupFactory(
        created_at=now - timedelta(hours=3), verification_status=VerificationStatus.PENDING
    )
    running = BackupFactory(status=BackupStatus.RUNNING, checksum="", created_at=old)

    deleted = prune.backup_prune(now=now)

    assert deleted == []
    assert Backup.objects.filter(pk__in=[verifying.pk, queued.pk, running.pk]).count() == 3


@pytest.mark.django_db
def test_prune_refuses_while_a_restore_runs(monkeypatch):
    now = timezone.now()
    for days in range(10):
        BackupFactory(created_at=now - timedelta(days=days))
    monkeypatch.setattr(locks, "restore_running", lambda: True)
    with pytest.raises(BackupError, match="restore"):
        prune.backup_prune(now=now)
    assert Backup.objects.count() == 10
    with pytest.raises(CommandError, match="restore"):
        call_command("backup", "prune")


@pytest.mark.django_db
def test_nightly_task_still_prunes_when_the_backup_fails(monkeypatch):
    from monitoring import tasks

    calls = []

    def disk_full(**kwargs):
        raise BackupError("disk full")

    monkeypatch.setattr(create, "backup_create", disk_full)
    monkeypatch.setattr(prune, "backup_prune", lambda **kw: calls.append("prune") or [])
    with pytest.raises(BackupError):
        tasks.nightly_backup()
    assert calls == ["prune"]


@pytest.mark.django_db
def test_weekly_verify_takes_the_newest_never_verified_backup(monkeypatch):
    from monitoring import tasks

    verified = []
    monkeypatch.setattr(
        verify, "backup_verify", lambda *, backup_id, **kw: verified.append(backup_id)
    )
    now = timezone.now()
    BackupFactory(
        created_at=now - timedelta(hours=1), verification_status=VerificationStatus.FAILED
    )
    BackupFactory(
        created_at=now - timedelta(hours=2), verification_status=VerificationStatus.PASSED
    )
    BackupFactory(status=BackupStatus.FAILED, checksum="", created_at=now - timedelta(hours=3))
    target = BackupFactory(created_at=now - timedelta(days=2))
    BackupFactory(created_at=now - timedelta(days=3))

    tasks.weekly_verify()

    assert verified == [target.pk]


# --- The audit trail across a restore -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_restore_keeps_the_audit_trail(admin_user):
    """Events written after the backup survive the restore, even those of a user the
    backup does not know (who comes back deactivated), and the chain verifies."""
    from accounts.audit import audit_chain_verify, audit_record

    audit_record(actor=admin_user, action="read", object_type="patients.patient", patient_id=7)
    renamed = UserFactory(role=Role.FRONT_DESK, email="desk@usc.edu.ph")
    backup = create.backup_create(actor=admin_user)
    head = AuditEvent.objects.order_by("-id").first()
    manifest = layout.read_manifest(_folder(backup))
    assert manifest["audit_head"] == {"id": head.pk, "hash": head.hash}
    assert backup.manifest["audit_head"] == manifest["audit_head"]

    late_nurse = UserFactory(role=Role.NURSE, email="late.nurse@usc.edu.ph")
    for i in range(5):
        audit_record(
            actor=late_nurse,
            action="read",
            object_type="patients.patient",
            patient_id=42,
            detail={"i": i},
        )
    # After the backup one account changed its address and a new one took the old one.
    User.objects.filter(pk=renamed.pk).update(email="desk.old@usc.edu.ph")
    late_desk = UserFactory(role=Role.FRONT_DESK, email="desk@usc.edu.ph")
    audit_record(actor=late_desk, action="update", object_type="appointments.appointment")
    fields = ("id", "created_at", "actor_id", "action", "patient_id", "detail")
    trail_before = list(AuditEvent.objects.order_by("id").values_list(*fields))
    assert AuditEvent.objects.filter(hash__isnull=True).count() >= 6  # the sealer has not run

    restore.backup_restore(backup=backup, actor=admin_user, confirm=True)

    trail_now = list(AuditEvent.objects.order_by("id"))
    kept = trail_now[: len(trail_before)]
    assert [tuple(getattr(e, f) for f in fields) for e in kept] == trail_before
    assert all(e.hash for e in kept)  # sealed by the restore before it set them aside
    assert AuditEvent.objects.filter(patient_id=42).count() == 5
    assert trail_now[-1].detail["backup"] == "restored"
    report = audit_chain_verify()
    assert report.ok and report.checked == len(trail_now)
    # The nurse is not in the backup: back as a deactivated account, so the events'
    # actor exists and no new user takes over the id.
    nurse = User.objects.get(pk=late_nurse.pk)
    assert not nurse.is_active and nurse.email == "late.nurse@usc.edu.ph"
    assert User.objects.get(pk=renamed.pk).email == "desk@usc.edu.ph"  # as in the backup
    desk = User.objects.get(pk=late_desk.pk)  # its address is taken: a placeholder
    assert not desk.is_active and desk.email.endswith("@invalid.example")
    newcomer = UserFactory(role=Role.NURSE)
    assert newcomer.pk > late_nurse.pk
    # New events chain on after the restore.
    audit_record(actor=admin_user, action="read", object_type="x")
    assert audit_chain_verify().ok


# --- Restoring a backup older than the schema -----------------------------------------------


def _live_table(name: str) -> bool:
    with pg.connect() as conn:
        return conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0] is not None


@pytest.mark.django_db(transaction=True)
def test_restore_of_a_backup_older_than_a_table_that_references_its_tables(admin_user):
    """An upgrade after the backup added a table with a foreign key to accounts_user: the
    restore still replaces accounts_user (the newer table goes, in the same transaction),
    the data is the backup's, and the site works after the post-restore migrations."""
    from django.db.migrations.executor import MigrationExecutor
    from django.test import Client

    from tests.conftest import login

    nurse = UserFactory(role=Role.NURSE, email="kept.nurse@usc.edu.ph")
    backup = create.backup_create(actor=admin_user)
    counts_then, checksums_then = _state()
    with pg.connect() as conn:
        conn.execute(
            "CREATE TABLE zz_newer (id bigserial PRIMARY KEY, user_id bigint NOT NULL "
            "REFERENCES accounts_user (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.execute("INSERT INTO zz_newer (user_id) VALUES (%s), (%s)", [nurse.pk, admin_user.pk])
    User.objects.filter(pk=nurse.pk).update(first_name="Changed")
    UserFactory(role=Role.DOCTOR, email="late.doctor@usc.edu.ph")

    report = restore.backup_restore(backup=backup, actor=admin_user, confirm=True)

    assert not _live_table("zz_newer")
    counts_now, checksums_now = _state()
    assert set(counts_now) == set(counts_then)
    for table in counts_then:
        if table not in NOT_REWOUND:
            assert checksums_now[table] == checksums_then[table], table
    assert not User.objects.filter(email="late.doctor@usc.edu.ph").exists()
    assert report.safety_backup.status == BackupStatus.SUCCEEDED
    from django.db import connection

    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    UserFactory(role=Role.NURSE, email="after.restore@usc.edu.ph")
    assert login(Client(), admin_user).get("/monitoring/").status_code == 200
    # The safety backup, taken with the newer table, restores it again.
    restore.backup_restore(backup=report.safety_backup, actor=admin_user, confirm=True)
    assert _live_table("zz_newer")
    with pg.connect() as conn:
        conn.execute("DROP TABLE zz_newer")


@pytest.mark.django_db(transaction=True)
def test_restore_failing_after_dropping_a_newer_table_changes_nothing(admin_user):
    """A view the backup does not know keeps a table of the backup from being dropped: the
    restore fails part-way, after the newer table was dropped, and all of it rolls back."""
    backup = create.backup_create(actor=admin_user)
    with pg.connect() as conn:
        conn.execute(
            "CREATE TABLE zz_newer (id bigserial PRIMARY KEY, user_id bigint "
            "REFERENCES accounts_user (id))"
        )
        conn.execute("INSERT INTO zz_newer (user_id) VALUES (%s)", [admin_user.pk])
        conn.execute("CREATE VIEW zz_names AS SELECT id, email FROM accounts_user")
    UserFactory(email="after.backup@usc.edu.ph")
    counts_before, checksums_before = _state()
    try:
        with pytest.raises(BackupError, match="nothing was restored"):
            restore.backup_restore(backup=backup, actor=admin_user, confirm=True)
        counts_after, checksums_after = _state()
        assert counts_after["zz_newer"] == 1
        for table in counts_before:
            if table not in NOT_REWOUND:
                assert checksums_after[table] == checksums_before[table], table
        assert User.objects.filter(email="after.backup@usc.edu.ph").exists()
    finally:
        with pg.connect() as conn:
            conn.execute("DROP VIEW IF EXISTS zz_names")
            conn.execute("DROP TABLE IF EXISTS zz_newer")
