"""Readiness checks for the database, the cache and the Celery broker.

Each check returns ``(ok, detail)`` and never raises, so one failing dependency cannot hide
the state of the others.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from uscpis.celery import app


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:
        return False, f"{exc.__class__.__name__}: {exc}"[:300]


def check_cache() -> tuple[bool, str]:
    key = f"readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=10)
        value = cache.get(key)
        cache.delete(key)
        return (value == "1", "ok" if value == "1" else "value did not round-trip")
    except Exception as exc:
        return False, f"{exc.__class__.__name__}: {exc}"[:300]


def _filesystem_broker_folders() -> tuple[bool, str]:
    """The filesystem transport "connects" even when its folders are gone (messages then
    fail at publish time): check that every folder exists and takes a file."""

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        folder = options.get(key)
        if not folder:
            continue
        path = Path(folder)
        if not path.is_dir():
            return False, f"broker folder {path} is missing"
        probe = path / f".readyz-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            os.unlink(probe)
        except OSError as exc:
            return False, f"broker folder {path} is not writable: {exc.strerror or exc}"
    return True, "folders ok"


def check_broker(timeout: float = 2.0) -> tuple[bool, str]:

    started = time.monotonic()
    if str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("filesystem://"):
        ok, detail = _filesystem_broker_folders()
        if not ok:
            return False, detail
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True, f"ok ({(time.monotonic() - started) * 1000:.0f} ms)"
    except Exception as exc:
        return False, f"{exc.__class__.__name__}: {exc}"[:300]
