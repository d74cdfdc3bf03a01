"""The backup folder's layout and manifest: file names, checksums, versions, sizes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from monitoring import pg
from monitoring.pg import BackupError

DB_FILE = "database.dump"


MEDIA_FILE = "media.tar.gz"


MANIFEST_FILE = "manifest.json"


FORMAT_VERSION = 1


# Rows of these tables describe the backups themselves, who is signed in and what everyone
# did, so a restore puts today's rows back instead of rewinding them. The audit trail in
# particular is never rewound: after a restore it is exactly what it was before, plus the
# restore's own event (and its hash chain still holds).
PRESERVED_TABLES = ("monitoring_backup", "django_session", "accounts_auditevent")


AUDIT_TABLE = "accounts_auditevent"


Progress = Callable[[int, str], None]


def _noop(_percent: int, _message: str) -> None:
    pass


def backup_root() -> Path:
    """The backup directory, created owner-only (every backup is every patient's record)."""
    root = Path(settings.BACKUP_DIR)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner_only(root)
    return root


def owner_only(path: Path) -> None:
    """Folders 0700, files 0600, recursively: readable by the app's own user only."""
    if path.is_dir():
        os.chmod(path, 0o700)
        for child in path.iterdir():
            owner_only(child)
    elif path.exists():
        os.chmod(path, 0o600)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def media_root() -> Path | None:
    """The local media folder, or None when media live in a remote storage (Cloudinary)."""

    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return Path(storage.location)
    return None


def app_version() -> str:
    version = getattr(settings, "APP_VERSION", "")
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{version}+{out.stdout.strip()}"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return version


def write_manifest(folder: Path, *, backup_id: int, kind: str, info: dict) -> dict:
    files = {}
    for name in (DB_FILE, MEDIA_FILE):
        path = folder / name
        if path.exists():
            files[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    manifest = {
        "format": FORMAT_VERSION,
        "backup_id": backup_id,
        "kind": kind,
        "created_at": timezone.now().isoformat(),
        "app_version": app_version(),
        "database": pg.live_db_name(),
        "server_version": info.get("server_version", ""),
        "pg_dump": info.get("pg_dump", ""),
        "files": files,
        "row_counts": info.get("row_counts", {}),
        "migrations": info.get("migrations", []),
        "audit_head": info.get("audit_head"),
        "media_files": info.get("media_files"),
    }
    tmp = folder / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(folder / MANIFEST_FILE)
    return manifest


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST_FILE).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{folder / MANIFEST_FILE} is missing") from exc
    except json.JSONDecodeError as exc:
        raise BackupError(f"{folder / MANIFEST_FILE} is not valid JSON: {exc}") from exc


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file())
