"""The backup engine: dump, archive, manifest, checks, scratch-restore and live restore.

Everything here works on files and on the database through its own connections; the
``Backup`` rows and alerts are handled by ``monitoring.services``.

Consistency: the row counts in the manifest and the dump come from one exported snapshot
(``pg_export_snapshot`` + ``pg_dump --snapshot``), so they describe exactly the same data.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
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
    root = Path(settings.BACKUP_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def media_root() -> Path | None:
    """The local media folder, or None when media live in a remote storage (Cloudinary)."""
    from django.core.files.storage import FileSystemStorage, storages

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


# --- Create ------------------------------------------------------------------------------


def dump_database(folder: Path, progress: Progress = _noop) -> dict:
    """Write ``folder/database.dump``; return counts and migrations from the same snapshot."""
    target = folder / DB_FILE
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


def _audit_head(conn: psycopg.Connection) -> dict | None:
    """The last audit event (id and hash) in the connection's snapshot, or None when the
    trail is empty. Kept in the manifest: it ties the backup to a point of the hash chain."""
    if conn.execute("SELECT to_regclass(%s)", [AUDIT_TABLE]).fetchone()[0] is None:
        return None  # checked first: an error would abort the snapshot's transaction
    row = conn.execute(
        f"SELECT id, hash FROM {AUDIT_TABLE} ORDER BY id DESC LIMIT 1"  # noqa: S608
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


# --- Checks and verification ---------------------------------------------------------------


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


# --- Restore --------------------------------------------------------------------------------

# A session-level advisory lock held, on a connection of its own, for as long as a restore
# runs (from the web's worker or from ``manage.py backup restore``): two restores never run
# at once, and when the process running one dies the lock goes with its connection.
RESTORE_LOCK_KEY = 7_368_270_101
_guard_depth = threading.local()


@contextmanager
def restore_guard() -> Iterator[None]:
    """Hold the restore lock; ``BackupError`` when another restore holds it.

    Re-entrant within a thread, so the worker can hold it around ``backup_restore`` (which
    takes it too) until the job's outcome is recorded.
    """
    if getattr(_guard_depth, "n", 0):
        _guard_depth.n += 1
        try:
            yield
        finally:
            _guard_depth.n -= 1
        return
    conn = pg.connect()  # autocommit: an idle session the restore does not terminate
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", [RESTORE_LOCK_KEY]).fetchone()[0]
        if not got:
            raise BackupError("Another restore is running right now; wait for it to finish.")
        _guard_depth.n = 1
        try:
            yield
        finally:
            _guard_depth.n = 0
            with suppress(psycopg.Error):  # release now, visibly to others (see job_guard)
                conn.execute("SELECT pg_advisory_unlock(%s)", [RESTORE_LOCK_KEY])
    finally:
        conn.close()


def restore_running() -> bool:
    """Whether some process holds the restore lock (it is running a restore now)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)",
            [RESTORE_LOCK_KEY >> 32, RESTORE_LOCK_KEY & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


# While a process makes or verifies a backup it holds a session-level advisory lock keyed
# by the backup's id, on a connection of its own: a row still "running" while nobody holds
# its lock belongs to a process that died (the lock went with its connection).
_JOB_LOCK_CLASS = {"backup": 736_827_011, "verify": 736_827_012}


@contextmanager
def job_guard(kind: str, backup_id: int) -> Iterator[bool]:
    """Hold the ``kind`` ("backup" or "verify") lock of one backup; yields False (and
    holds nothing) when another process holds it."""
    conn = pg.connect()
    key = [_JOB_LOCK_CLASS[kind], backup_id]
    got = False
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", key).fetchone()[0]
        yield got
    finally:
        # Release now: closing alone frees it only once the backend has exited, which other
        # sessions may not see yet (a reaper would find it still "held"). A broken
        # connection frees it anyway when closed.
        with suppress(psycopg.Error):
            if got:
                conn.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", key)
        conn.close()


def jobs_running_sql(kind: str) -> tuple[str, list[int]]:
    """SQL (and parameters) selecting the ids of the backups a live process is making
    ("backup") or verifying ("verify"): for use inside a guarded UPDATE, so the check and
    the change are one statement (``pg_locks`` is read live, not from a snapshot)."""
    return (
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::bigint = %s AND objsubid = 2",
        [_JOB_LOCK_CLASS[kind]],
    )


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
    are back, the control connection holds the audit chain's lock, so no event can be
    written in between and lost: writers wait (sessions already waiting for it when the
    restore starts are ended, as they may hold locks the restore needs). Users the kept
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
    from django.db import connection

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
    from psycopg import sql

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


def _audit_lock_key() -> int:
    from accounts.audit import _AUDIT_LOCK_KEY

    return _AUDIT_LOCK_KEY


def _audit_lock_parts() -> list[int]:
    key = _audit_lock_key()
    return [key >> 32, key & 0xFFFFFFFF]


# Sessions idle inside a transaction (they hold locks the restore waits for), and sessions
# waiting for the audit chain's lock (``pg_advisory_xact_lock`` in audit_record), which
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
    from psycopg import sql

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
    from psycopg import sql

    ctl.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST((SELECT max(id) FROM {}), 1))"
        ).format(sql.Identifier(table)),
        [table],
    )


def _put_back_actors(ctl: psycopg.Connection, old_columns: list[str]) -> None:
    """Users named by kept audit events but missing from the restored data come back
    deactivated (an email now taken by another user is replaced by a placeholder)."""
    from psycopg import sql

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
    from psycopg import sql

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
