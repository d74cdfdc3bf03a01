"""PostgreSQL plumbing for backups: connection parameters, matching client programs, counts.

``pg_dump`` must not be older than the server, and ``pg_restore`` must be able to read what
that ``pg_dump`` wrote, so both come from one directory chosen for the server's major
version: the embedded server's own programs, else ``/usr/lib/postgresql/<major>/bin``, else
whatever is on ``PATH`` when new enough, else the embedded (newer) programs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql

from uscpis.embedded_db import embedded_bin_dir


class BackupError(Exception):
    """A backup, verification or restore step failed; the message says which and why."""


def db_params(dbname: str | None = None) -> dict:
    db = settings.DATABASES["default"]
    name = dbname or connection.settings_dict["NAME"]
    return {
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "dbname": name,
    }


def live_db_name() -> str:
    return connection.settings_dict["NAME"]


def connect(dbname: str | None = None, *, autocommit: bool = True) -> psycopg.Connection:
    """A fresh connection outside Django's (its own transaction and session state)."""
    params = {k: v for k, v in db_params(dbname).items() if v}
    return psycopg.connect(autocommit=autocommit, connect_timeout=10, **params)


def client_env(dbname: str | None = None) -> dict[str, str]:
    params = db_params(dbname)
    env = dict(os.environ)
    mapping = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    for key, var in mapping.items():
        env.pop(var, None)
        if params[key]:
            env[var] = params[key]
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def server_major() -> int:
    with connect() as conn:
        num = conn.execute("SHOW server_version_num").fetchone()[0]
    return int(num) // 10000


def _client_major(binary: Path) -> int | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else None


def _embedded_dir() -> Path | None:
    try:
        path = embedded_bin_dir()
    except Exception:
        return None
    return path if (path / "pg_dump").exists() else None


@cache
def client_bin_dir() -> Path:
    """Where ``pg_dump``/``pg_restore`` for this server live (see the module docstring)."""
    override = os.environ.get("BACKUP_PG_BIN_DIR") or getattr(settings, "BACKUP_PG_BIN_DIR", "")
    if override:
        return Path(override)
    embedded = _embedded_dir()
    if settings.EMBEDDED_DATABASE and embedded:
        return embedded
    major = server_major()
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin")]
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    if embedded:
        candidates.append(embedded)
    for directory in candidates:
        binary = directory / "pg_dump"
        usable = binary.exists() and (directory / "pg_restore").exists()
        if usable and (_client_major(binary) or 0) >= major:
            return directory
    raise BackupError(
        f"No pg_dump/pg_restore for PostgreSQL {major} found (looked in "
        f"{', '.join(str(c) for c in candidates)}); install postgresql-client-{major}."
    )


def client(name: str) -> str:
    return str(client_bin_dir() / name)


def user_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
        "AND schemaname NOT LIKE 'pg_temp%%' ORDER BY 1, 2"
    ).fetchall()
    return [t if s == "public" else f"{s}.{t}" for s, t in rows]


def _ident(table: str) -> psycopg.sql.Composable:
    return sql.Identifier(*table.split(".", 1))


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Exact ``count(*)`` of every table (in the connection's current snapshot)."""
    counts = {}
    for table in user_tables(conn):
        counts[table] = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(_ident(table))
        ).fetchone()[0]
    return counts


def content_checksums(conn: psycopg.Connection, tables: list[str] | None = None) -> dict[str, str]:
    """MD5 of every table's rows as text, in a stable order: equal checksums, equal data."""
    result = {}
    for table in tables or user_tables(conn):
        query = sql.SQL(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t"
        ).format(_ident(table))
        result[table] = conn.execute(query).fetchone()[0]
    return result


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    try:
        rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    return [f"{app}.{name}" for app, name in rows]


def create_database(name: str) -> None:
    with connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with connect("postgres") as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
