"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

``pgserver`` ships real PostgreSQL binaries in a wheel, so a fresh clone needs nothing
installed. The data lives under ``var/pgdata`` and persists between runs; the server is
shared by every process of the stack (web, worker, beat, manage.py) and stops when the
last one exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

_handle = None  # keep the server handle alive for the life of this process


def embedded_database_settings(var_dir: Path, name: str) -> dict:
    global _handle
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported lazily: only the embedded path needs it

    var_dir.mkdir(parents=True, exist_ok=True)
    if _handle is None:
        _handle = pgserver.get_server(var_dir / "pgdata", cleanup_mode="stop")
    info = _handle.get_postmaster_info()
    if name != "postgres":
        _ensure_database(_handle, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or ""),
    }


def embedded_bin_dir() -> Path:
    """Directory of the embedded server's client programs (pg_dump, pg_restore, psql)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _ensure_database(server, name: str) -> None:
    import psycopg

    info = server.get_postmaster_info()
    with psycopg.connect(
        dbname="postgres", user="postgres", host=str(info.socket_dir), port=info.port,
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            from psycopg import sql

            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
