"""Writing a backup: the database dump (one exported snapshot for dump and row counts) and
the media archive."""

from __future__ import annotations

import re
import subprocess
import tarfile
from contextlib import suppress
from pathlib import Path

import psycopg

from accounts.audit import AuditChainError, audit_seal
from monitoring import pg
from monitoring.backups.layout import (
    AUDIT_TABLE,
    DB_FILE,
    MEDIA_FILE,
    Progress,
    _noop,
    media_root,
    sha256_file,
)
from monitoring.pg import BackupError


def dump_database(folder: Path, progress: Progress = _noop) -> dict:
    """Write ``folder/database.dump``; return counts and migrations from the same snapshot."""
    target = folder / DB_FILE
    _seal_audit_trail()
    with pg.connect(autocommit=False) as ctl:
        ctl.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        ctl.read_only = True
        snapshot = ctl.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = pg.user_tables(ctl)
        progress(5, f"Counting rows in {len(tables)} tables")
        counts = pg.row_counts(ctl)
        migrations = pg.applied_migrations(ctl)
        audit_head = _audit_head(ctl)
        server_version = ctl.execute("SHOW server_version").fetchone()[0]
        command = [
            pg.client("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--verbose",
            f"--snapshot={snapshot}",
            f"--file={target}",
            pg.live_db_name(),
        ]
        progress(10, "Dumping the database")
        _run_with_progress(command, len(tables), progress, start=10, end=80)
        ctl.rollback()
    return {
        "row_counts": counts,
        "migrations": migrations,
        "audit_head": audit_head,
        "server_version": server_version,
        "pg_dump": _version_of(pg.client("pg_dump")),
    }


def _seal_audit_trail() -> None:
    """Chain the newest audit events first, so the manifest's head is as recent as can be.
    A trail the sealer refuses (changed outside the application) does not stop a backup."""

    with suppress(AuditChainError):
        audit_seal(wait_seconds=5.0)


def _audit_head(conn: psycopg.Connection) -> dict | None:
    """The last sealed audit event (id and hash) in the connection's snapshot, or None when
    nothing is sealed. Kept in the manifest: it ties the backup to a point of the hash chain
    (events after it are not chained yet; the sealer links them after this one)."""
    if conn.execute("SELECT to_regclass(%s)", [AUDIT_TABLE]).fetchone()[0] is None:
        return None  # checked first: an error would abort the snapshot's transaction
    row = conn.execute(
        f"SELECT id, hash FROM {AUDIT_TABLE} WHERE hash IS NOT NULL "  # noqa: S608
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return {"id": row[0], "hash": row[1]} if row else None


_TABLE_LINE = re.compile(r"dumping contents of table|processing data for table")


def _run_with_progress(
    command: list[str],
    tables: int,
    progress: Progress,
    *,
    start: int,
    end: int,
    env: dict | None = None,
) -> None:
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env or pg.client_env(),
    )
    done, tail = 0, []
    assert proc.stderr is not None
    for line in proc.stderr:
        tail = (tail + [line.rstrip()])[-20:]
        if _TABLE_LINE.search(line):
            done += 1
            percent = start + (end - start) * min(done, max(tables, 1)) // max(tables, 1)
            progress(percent, f"{Path(command[0]).name}: {done} of {tables} tables")
    code = proc.wait()
    if code != 0:
        errors = [line for line in tail if "error" in line.lower()] or tail[-5:]
        raise BackupError(
            f"{Path(command[0]).name} failed (exit {code}): " + " | ".join(errors)[-800:]
        )


def _version_of(binary: str) -> str:
    try:
        return subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def archive_media(folder: Path) -> dict:
    root = media_root()
    if root is None:
        raise BackupError("Media are stored remotely (Cloudinary); back them up there.")
    files = {}
    with tarfile.open(folder / MEDIA_FILE, "w:gz") as tar:
        if root.exists():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root).as_posix()
                tar.add(path, arcname=rel, recursive=False)
                files[rel] = sha256_file(path)
    return {"media_files": files}
