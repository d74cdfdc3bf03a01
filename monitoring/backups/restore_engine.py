"""Replacing the live database and media with a backup's, keeping the audit trail, sessions
and backup rows as they are today."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import threading
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.db import connection
from psycopg import sql

from accounts.audit import _AUDIT_LOCK_KEY, audit_seal_fenced
from monitoring import pg
from monitoring.backups.layout import (
    AUDIT_TABLE,
    DB_FILE,
    MEDIA_FILE,
    PRESERVED_TABLES,
    Progress,
    _noop,
    media_root,
    sha256_file,
)
from monitoring.pg import BackupError


@dataclass
class TableChange:
    table: str
    before: int | None
    after: int | None


def restore_database(folder: Path, progress: Progress = _noop) -> list[TableChange]:
    """Replace the live database's contents with the dump, in one transaction.

    Either everything is restored or nothing changes: the dump, turned into SQL by
    ``pg_restore``, runs through ``psql`` in one transaction, committed only when all of it
    went through. Tables the backup does not have (added by a later upgrade) are dropped in
    that same transaction, since their foreign keys would keep the backup's tables from
    being replaced; the migrations run after the restore create them again. Sessions
    idle inside a transaction are ended first, since they would hold locks the restore
    waits for; other connections wait at most ``lock_timeout`` and then see the new data.
    Rows of ``PRESERVED_TABLES`` are kept aside on a control connection and put back.

    The audit trail is never rewound. From the moment its rows are kept aside until they
    are back, the control connection holds the audit fence exclusively, so no event can be
    written in between and lost: writers wait (sessions already waiting for it when the
    restore starts are ended, as they may hold locks the restore needs). Every event is
    sealed before it is set aside (no writer is in flight while the fence is held). Users the kept
    events name but the backup does not have are put back too, deactivated, so every
    event's actor still exists and no new user can take over their id.
    """
    with pg.connect() as ctl:
        before = pg.row_counts(ctl)
        ctl.execute("SET lock_timeout = '60s'")
        try:
            ctl.execute("SELECT pg_advisory_lock(%s)", [_audit_lock_key()])
        except psycopg.errors.LockNotAvailable as exc:
            raise BackupError(
                "The audit trail stayed locked for a minute; nothing was restored."
            ) from exc
        ctl.execute("RESET lock_timeout")
        try:
            _seal_fenced(ctl)
            kept = _keep_rows(ctl)
            ctl.execute(_END_BLOCKING_SESSIONS, _audit_lock_parts())
            newer = _tables_not_in_dump(ctl, folder / DB_FILE)
            progress(30, "Restoring the database")
            _restore_script(folder / DB_FILE, newer, len(before), progress)
            progress(88, "Putting back the audit trail, the backup list and sessions")
            _put_back_rows(ctl, kept)
        finally:
            with suppress(psycopg.Error):  # a broken connection let go of the lock already
                ctl.execute("SELECT pg_advisory_unlock_all()")
        after = pg.row_counts(ctl)

    connection.close()  # its prepared statements refer to the dropped tables
    tables = sorted(set(before) | set(after))
    return [
        TableChange(t, before.get(t), after.get(t)) for t in tables if before.get(t) != after.get(t)
    ]


# A table entry in ``pg_restore --list``: "<id>; <class oid> <oid> TABLE <schema> <name> <owner>".
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (\S+)")


# Ordinary and partitioned tables, except those an extension owns (DROP would refuse them).
_LIVE_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
)


def dump_tables(dump: Path) -> set[tuple[str, str]]:
    """(schema, name) of every table the dump creates."""
    try:
        out = subprocess.run(
            [pg.client("pg_restore"), "--list", str(dump)],
            capture_output=True,
            text=True,
            timeout=600,
            env=pg.client_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"pg_restore failed: {exc}; nothing was restored") from exc
    if out.returncode != 0:
        raise BackupError(
            f"pg_restore failed (exit {out.returncode}); nothing was restored: "
            + out.stderr.strip()[-800:]
        )
    tables = set()
    for line in out.stdout.splitlines():
        match = _TOC_TABLE.match(line)
        if match:
            tables.add((match.group(1), match.group(2)))
    if not tables:
        raise BackupError("The dump holds no tables; refusing to restore it.")
    return tables


def _tables_not_in_dump(ctl: psycopg.Connection, dump: Path) -> list[tuple[str, str]]:
    """Live tables the dump does not have (newer than the backup). The preserved tables are
    left alone whatever the dump holds: their rows are put back after the restore."""
    in_dump = dump_tables(dump)
    preserved = {("public", t) for t in PRESERVED_TABLES}
    live = [tuple(row) for row in ctl.execute(_LIVE_TABLES).fetchall()]
    return [t for t in live if t not in in_dump and t not in preserved]


def _restore_script(
    dump: Path, drop: list[tuple[str, str]], tables: int, progress: Progress
) -> None:
    """Run the dump as SQL through ``psql`` in one transaction, after dropping ``drop``.

    ``pg_restore`` writes the script (``--clean``: drop, then create and fill); this process
    passes it on to ``psql`` between its own ``BEGIN`` and ``COMMIT``, and writes the
    ``COMMIT`` only when ``pg_restore`` finished well. ``psql`` stops at the first error
    (``ON_ERROR_STOP``); a transaction left open when ``psql`` exits is rolled back, so a
    failure anywhere changes nothing.
    """
    env = pg.client_env()
    env["PGOPTIONS"] = "-c lock_timeout=60000"
    prelude = "BEGIN;\n" + "".join(
        sql.SQL("DROP TABLE IF EXISTS {} CASCADE;\n").format(sql.Identifier(*t)).as_string(None)
        for t in drop
    )
    restore = subprocess.Popen(
        [
            pg.client("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--file=-",
            str(dump),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    psql = subprocess.Popen(
        [
            pg.client("psql"),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={pg.live_db_name()}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    tails: dict[str, list[str]] = {"pg_restore": [], "psql": []}

    def collect(name: str, stream) -> None:
        for raw in stream:
            tails[name] = (tails[name] + [raw.decode(errors="replace").rstrip()])[-20:]

    readers = [
        threading.Thread(target=collect, args=("pg_restore", restore.stderr), daemon=True),
        threading.Thread(target=collect, args=("psql", psql.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    assert restore.stdout is not None and psql.stdin is not None
    done, in_copy, psql_gone = 0, False, False
    try:
        psql.stdin.write(prelude.encode())
        for line in restore.stdout:
            if in_copy:
                in_copy = line != b"\\.\n"
            elif line.startswith(b"COPY "):
                in_copy, done = True, done + 1
                percent = 30 + 55 * min(done, max(tables, 1)) // max(tables, 1)
                progress(percent, f"restoring: {done} of {tables} tables")
            psql.stdin.write(line)
    except BrokenPipeError:
        psql_gone = True  # psql stopped at an error: its transaction is rolled back
        restore.kill()
    restore_code = restore.wait()
    try:
        if restore_code == 0 and not psql_gone:
            psql.stdin.write(b"COMMIT;\n")
        psql.stdin.close()  # without a COMMIT, psql leaves and the server rolls back
    except BrokenPipeError:
        pass
    psql_code = psql.wait()
    for reader in readers:
        reader.join(timeout=10)
    if psql_code != 0 or psql_gone:
        errors = [t for t in tails["psql"] if "error" in t.lower()] or tails["psql"][-5:]
        raise BackupError(
            f"psql failed (exit {psql_code}); nothing was restored: " + " | ".join(errors)[-800:]
        )
    if restore_code != 0:
        errors = tails["pg_restore"][-5:]
        raise BackupError(
            f"pg_restore failed (exit {restore_code}); nothing was restored: "
            + " | ".join(errors)[-800:]
        )


def _seal_fenced(ctl: psycopg.Connection) -> None:
    """With the fence held no audit writer is in flight: seal every event before the trail
    is set aside, so the rows put back are sealed (and fit a backup's older schema, where
    the seal columns are required)."""

    if ctl.execute("SELECT to_regclass(%s)", [AUDIT_TABLE]).fetchone()[0] is not None:
        audit_seal_fenced(ctl.cursor())


def _audit_lock_key() -> int:

    return _AUDIT_LOCK_KEY


def _audit_lock_parts() -> list[int]:
    key = _audit_lock_key()
    return [key >> 32, key & 0xFFFFFFFF]


# Sessions idle inside a transaction (they hold locks the restore waits for), and sessions
# waiting for the audit fence (``pg_advisory_xact_lock_shared`` in audit_record), which
# the restore holds: they may hold locks the restore needs, and would wait for it forever.
_END_BLOCKING_SESSIONS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND (state IN ('idle in transaction', 'idle in transaction (aborted)') "
    "OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1))"
)


_USER_TABLE = "accounts_user"


_KEEP_ACTORS = "keep_audit_actors"


def _keep_rows(ctl: psycopg.Connection) -> dict[str, list[str]]:
    kept = {}
    existing = set(pg.user_tables(ctl))
    for table in PRESERVED_TABLES:
        if table not in existing:
            continue
        ctl.execute(
            sql.SQL("CREATE TEMP TABLE {} AS SELECT * FROM {}").format(
                sql.Identifier(f"keep_{table}"), sql.Identifier(table)
            )
        )
        kept[table] = _columns(ctl, table)
    if AUDIT_TABLE in kept and _USER_TABLE in existing:
        kept[_KEEP_ACTORS] = _columns(ctl, _USER_TABLE)
        ctl.execute(
            sql.SQL(
                "CREATE TEMP TABLE {} AS SELECT * FROM {} WHERE id IN "
                "(SELECT actor_id FROM {} WHERE actor_id IS NOT NULL)"
            ).format(
                sql.Identifier(_KEEP_ACTORS),
                sql.Identifier(_USER_TABLE),
                sql.Identifier(f"keep_{AUDIT_TABLE}"),
            )
        )
    return kept


def _columns(ctl: psycopg.Connection, table: str) -> list[str]:
    rows = ctl.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _reset_sequence(ctl: psycopg.Connection, table: str) -> None:
    ctl.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST((SELECT max(id) FROM {}), 1))"
        ).format(sql.Identifier(table)),
        [table],
    )


def _put_back_actors(ctl: psycopg.Connection, old_columns: list[str]) -> None:
    """Users named by kept audit events but missing from the restored data come back
    deactivated (an email now taken by another user is replaced by a placeholder)."""
    now_columns = set(_columns(ctl, _USER_TABLE))
    columns = [c for c in old_columns if c in now_columns]
    if "id" not in columns:
        return
    values = []
    for column in columns:
        if column == "is_active":
            values.append(sql.SQL("false"))
        elif column == "email":
            values.append(
                sql.SQL(
                    "CASE WHEN EXISTS (SELECT 1 FROM {} u WHERE lower(u.email) = lower(k.email)) "
                    "THEN 'removed-by-restore-' || k.id || '@invalid.example' ELSE k.email END"
                ).format(sql.Identifier(_USER_TABLE))
            )
        else:
            values.append(sql.SQL("k.{}").format(sql.Identifier(column)))
    ctl.execute(
        sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM {} k "
            "WHERE NOT EXISTS (SELECT 1 FROM {} u WHERE u.id = k.id)"
        ).format(
            sql.Identifier(_USER_TABLE),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(", ").join(values),
            sql.Identifier(_KEEP_ACTORS),
            sql.Identifier(_USER_TABLE),
        )
    )
    _reset_sequence(ctl, _USER_TABLE)


def _put_back_rows(ctl: psycopg.Connection, kept: dict[str, list[str]]) -> None:
    kept = dict(kept)
    actor_columns = kept.pop(_KEEP_ACTORS, None)
    with ctl.transaction():
        if actor_columns:
            _put_back_actors(ctl, actor_columns)
        for table, old_columns in kept.items():
            now_columns = set(_columns(ctl, table))
            if not now_columns:
                continue
            columns = [c for c in old_columns if c in now_columns]
            if table == "monitoring_backup" and "requested_by_id" in columns:
                ctl.execute(
                    "UPDATE keep_monitoring_backup SET requested_by_id = NULL WHERE "
                    "requested_by_id NOT IN (SELECT id FROM accounts_user)"
                )
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            # The audit table refuses row deletes (a trigger); TRUNCATE is its owner's.
            empty = "TRUNCATE {}" if table == AUDIT_TABLE else "DELETE FROM {}"
            ctl.execute(sql.SQL(empty).format(sql.Identifier(table)))
            ctl.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    sql.Identifier(table), cols, cols, sql.Identifier(f"keep_{table}")
                )
            )
            if "id" in columns:
                _reset_sequence(ctl, table)


@dataclass
class MediaChange:
    added: int = 0
    removed: int = 0
    changed: int = 0


def restore_media(folder: Path) -> MediaChange:
    """Swap the media folder for the archive's contents (old folder removed at the end)."""
    root = media_root()
    if root is None:
        raise BackupError("Media are stored remotely (Cloudinary); they cannot be restored here.")
    staging = root.parent / f".media-restore-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        with tarfile.open(folder / MEDIA_FILE, "r:gz") as tar:
            tar.extractall(staging, filter="data")
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    def hashes(base: Path) -> dict[str, str]:
        if not base.exists():
            return {}
        return {
            p.relative_to(base).as_posix(): sha256_file(p) for p in base.rglob("*") if p.is_file()
        }

    old, new = hashes(root), hashes(staging)
    change = MediaChange(
        added=len(set(new) - set(old)),
        removed=len(set(old) - set(new)),
        changed=sum(1 for k in set(old) & set(new) if old[k] != new[k]),
    )
    retired = root.parent / f".media-old-{uuid.uuid4().hex[:8]}"
    if root.exists():
        root.rename(retired)
    staging.rename(root)
    shutil.rmtree(retired, ignore_errors=True)
    return change
