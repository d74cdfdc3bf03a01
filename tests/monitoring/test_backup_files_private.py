"""Backup files are every patient's record: owner-only on disk (issue #11)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from monitoring.backups import create, layout

pytestmark = pytest.mark.django_db(transaction=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_folder_and_files_are_owner_only(admin_user):
    default_storage.save("patients/1/lab.pdf", ContentFile(b"%PDF-1.4 test"))
    backup = create.backup_create(actor=admin_user, with_media=True)
    root = layout.backup_root()
    folder = root / backup.folder
    assert _mode(root) == 0o700
    assert _mode(folder) == 0o700
    files = [p for p in folder.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {layout.DB_FILE, layout.MEDIA_FILE, layout.MANIFEST_FILE}
    for path in files:
        assert _mode(path) == 0o600, path
