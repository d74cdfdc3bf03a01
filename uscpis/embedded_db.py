"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

``pgserver`` ships real PostgreSQL binaries in a wheel, so a fresh clone needs nothing
installed. The data lives under ``var/pgdata`` and persists between runs. The process that
starts the server stops it when it exits (``make run``'s supervisor, a test session, a lone
``manage.py`` command); processes that find it already running (web, worker and beat under
``make run``, a shell opened beside it) just use it.
"""

from __future__ import annotations

import atexit
import logging
import warnings
from pathlib import Path

_handle = None  # keep the server handle alive for the life of this process
_started_here = False


def embedded_database_settings(var_dir: Path, name: str) -> dict:
    global _handle, _started_here
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver
    from pgserver.utils import PostmasterInfo

    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = var_dir / "pgdata"
    if _handle is None:
        info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
        was_running = info is not None and info.is_running()
        _handle = pgserver.get_server(pgdata, cleanup_mode=None)
        # pgserver's own reference counting loses track of processes that are killed; we
        # use the simpler "whoever started it stops it" rule instead.
        atexit.unregister(_handle._cleanup)
        if not was_running:
            _started_here = True
            atexit.register(stop_if_started_here)
    info = _handle.get_postmaster_info()
    if name != "postgres":
        _ensure_database(info, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or ""),
    }


def stop_if_started_here() -> bool:
    """Stop the embedded server if this process started it. Returns True if it stopped."""
    global _started_here
    if _handle is None or not _started_here:
        return False
    _started_here = False
    from pgserver._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_handle.pgdata, user=_handle.system_user, timeout=60)
    except Exception:  # already stopped, or stopping failed: nothing more we can do at exit
        return False
    return True


def embedded_bin_dir() -> Path:
    """Directory of the embedded server's client programs (pg_dump, pg_restore, psql)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def ensure_database_exists(db: dict) -> bool:
    """Create the database named in Django's ``db`` settings if the server lacks it.

    Used by ``make run`` and ``make bench`` so a fresh ``DATABASE_URL`` just works.
    Returns True when it created the database.
    """
    import psycopg
    from psycopg import sql

    params = {
        "dbname": "postgres", "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None, "port": db.get("PORT") or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        return True


def _ensure_database(info, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres", user="postgres", host=str(info.socket_dir), port=info.port,
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
