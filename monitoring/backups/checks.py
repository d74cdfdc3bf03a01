"""Checking a backup folder: files against the manifest, and a scratch restore that proves
the dump loads."""

from __future__ import annotations

import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from monitoring import pg
from monitoring.backups.dump import _run_with_progress
from monitoring.backups.layout import (
    DB_FILE,
    MEDIA_FILE,
    Progress,
    _noop,
    read_manifest,
    sha256_file,
)
from monitoring.pg import BackupError


def check_files(folder: Path, manifest: dict, expected_db_checksum: str = "") -> list[str]:
    """Problems with the files (missing, wrong size, wrong SHA-256); empty when all good."""
    problems = []
    files = manifest.get("files") or {}
    if DB_FILE not in files:
        problems.append("the manifest lists no database dump")
    for name, meta in files.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != meta.get("size"):
            problems.append(f"{name} is {size} bytes, the manifest says {meta.get('size')}")
        digest = sha256_file(path)
        if digest != meta.get("sha256"):
            problems.append(f"{name} SHA-256 does not match the manifest")
    if expected_db_checksum and files.get(DB_FILE, {}).get("sha256") != expected_db_checksum:
        problems.append(
            "the manifest's database checksum differs from the one recorded at backup time"
        )
    return problems


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    tables_checked: int = 0

    def summary(self) -> str:
        if self.ok:
            return f"Checksums match; restored into a scratch database; {self.tables_checked} tables have the expected row counts."
        return "; ".join(self.problems)[:4000]


def verify_folder(
    folder: Path, *, expected_db_checksum: str = "", progress: Progress = _noop
) -> VerifyResult:
    """Checksums, then a restore into a scratch database whose row counts must match."""
    manifest = read_manifest(folder)
    progress(10, "Checking SHA-256 checksums")
    problems = check_files(folder, manifest, expected_db_checksum)
    if problems:
        return VerifyResult(False, problems)
    if MEDIA_FILE in manifest.get("files", {}):
        try:
            with tarfile.open(folder / MEDIA_FILE, "r:gz") as tar:
                names = {m.name for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as exc:
            return VerifyResult(False, [f"media archive unreadable: {exc}"])
        missing = set(manifest.get("media_files") or {}) - names
        if missing:
            return VerifyResult(False, [f"media archive lacks {len(missing)} files"])
    scratch = f"verify_{pg.live_db_name()[:30]}_{uuid.uuid4().hex[:10]}"
    progress(20, f"Restoring into scratch database {scratch}")
    pg.create_database(scratch)
    try:
        command = [
            pg.client("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--verbose",
            f"--dbname={scratch}",
            str(folder / DB_FILE),
        ]
        expected = manifest.get("row_counts") or {}
        try:
            _run_with_progress(
                command, len(expected), progress, start=20, end=85, env=pg.client_env(scratch)
            )
        except BackupError as exc:
            return VerifyResult(False, [str(exc)])
        progress(90, "Comparing row counts")
        with pg.connect(scratch) as conn:
            actual = pg.row_counts(conn)
    finally:
        pg.drop_database(scratch)
    for table, count in sorted(expected.items()):
        if table not in actual:
            problems.append(f"table {table} is missing after restore")
        elif actual[table] != count:
            problems.append(f"{table}: {actual[table]} rows restored, manifest says {count}")
    for table in sorted(set(actual) - set(expected)):
        problems.append(f"table {table} is not in the manifest")
    return VerifyResult(not problems, problems, len(actual))
