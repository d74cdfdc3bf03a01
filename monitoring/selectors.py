"""Reads for the monitor page. Every panel function catches its own failures and returns a
``Panel`` whose ``ok`` is False with the reason, so one broken dependency turns one panel red
and the rest of the page still renders."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import ChannelError

from accounts import outbox
from monitoring import charts, health, integrations, metrics
from monitoring.backups import layout, locks, offsite
from monitoring.backups.jobs import (
    RESTORE_TOO_LATE_TEXT,
    RUN_BACKUP_TASK,
    VERIFY_BACKUP_TASK,
    restore_job_state,
    restore_job_too_late,
)
from monitoring.models import (
    Backup,
    BackupStatus,
    Incident,
    RestoreJobStatus,
    TaskFailure,
    VerificationStatus,
)
from uscpis.celery import app

logger = logging.getLogger(__name__)

LONG_QUERY_SECONDS = 5
BACKUP_MAX_AGE = timedelta(hours=26)
DISK_ALERT_PERCENT = 90
HEARTBEAT_FRESH = timedelta(minutes=3)


@dataclass
class Panel:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.ok = False
        self.problems.append(reason)


def _error(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:300]


def _rows(sql: str, params=None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def _redact(query: str) -> str:
    """Statements without their literal values (they may hold patient data)."""
    return _LITERALS.sub("?", " ".join((query or "").split()))[:240]


# --- Database ------------------------------------------------------------------------------


def database_panel() -> Panel:
    panel = Panel()
    ok, detail = health.check_database()
    if not ok:
        panel.fail(f"Database unreachable: {detail}")
        return panel
    sections = {
        "size": lambda: _rows(
            "SELECT pg_database_size(current_database()) AS bytes, version() AS version"
        )[0],
        "tables": lambda: _rows(
            "SELECT s.relname AS name, s.n_live_tup AS rows, pg_total_relation_size(s.relid) AS bytes, "
            "greatest(s.last_vacuum, s.last_autovacuum) AS vacuumed, "
            "greatest(s.last_analyze, s.last_autoanalyze) AS analyzed, s.n_dead_tup AS dead "
            "FROM pg_stat_user_tables s ORDER BY pg_total_relation_size(s.relid) DESC LIMIT 15"
        ),
        "connections": lambda: _rows(
            "SELECT coalesce(state, 'background') AS state, count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1 ORDER BY 2 DESC"
        ),
        "hit_ratio": lambda: _rows(
            "SELECT round(100.0 * blks_hit / nullif(blks_hit + blks_read, 0), 2) AS pct "
            "FROM pg_stat_database WHERE datname = current_database()"
        )[0]["pct"],
        "long_running": lambda: [
            {**r, "query": _redact(r["query"])}
            for r in _rows(
                "SELECT pid, state, extract(epoch FROM now() - query_start) AS seconds, "
                "wait_event_type, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle' "
                "AND now() - query_start > make_interval(secs => %s) ORDER BY query_start LIMIT 10",
                [LONG_QUERY_SECONDS],
            )
        ],
        "lock_waits": lambda: [
            {**r, "query": _redact(r["query"])}
            for r in _rows(
                "SELECT pid, pg_blocking_pids(pid) AS blocked_by, "
                "extract(epoch FROM now() - query_start) AS seconds, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0 LIMIT 10"
            )
        ],
        "unapplied": _unapplied_migrations,
    }
    for name, read in sections.items():
        try:
            panel.data[name] = read()
        except Exception as exc:
            panel.warnings.append(f"{name}: {_error(exc)}")
    panel.data["statements"] = slow_statements()
    if panel.data.get("unapplied"):
        panel.warnings.append(f"{len(panel.data['unapplied'])} migrations are not applied")
    if panel.data.get("lock_waits"):
        panel.warnings.append(f"{len(panel.data['lock_waits'])} queries are waiting for locks")
    return panel


def _unapplied_migrations() -> list[str]:

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _backwards in plan]


def slow_statements() -> dict:
    """Slowest statements from pg_stat_statements, or why they are not available."""
    try:
        with transaction.atomic():  # a savepoint: a failure here must not poison the page
            installed = _rows(
                "SELECT 1 AS x FROM pg_extension WHERE extname = 'pg_stat_statements'"
            )
            if not installed:
                available = _rows(
                    "SELECT 1 AS x FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
                )
                reason = (
                    "the extension is available but not installed (CREATE EXTENSION pg_stat_statements)"
                    if available
                    else "this PostgreSQL server does not ship the extension"
                )
                return {"available": False, "reason": reason, "rows": []}
            rows = _rows(
                "SELECT query, calls, mean_exec_time AS mean_ms, total_exec_time AS total_ms "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) ORDER BY mean_exec_time DESC LIMIT 10"
            )
    except Exception as exc:
        return {"available": False, "reason": _error(exc), "rows": []}
    return {
        "available": True,
        "reason": "",
        "rows": [{**r, "query": _redact(r["query"])} for r in rows],
    }


# --- Background work -------------------------------------------------------------------------


def worker_status(timeout: float = 1.0) -> dict:
    """Live workers: Celery ping, else the heartbeat task's last run (for brokers that
    cannot broadcast)."""

    names, detail = [], ""
    try:
        replies = app.control.ping(timeout=timeout) or []
        names = sorted(name for reply in replies for name in reply)
    except Exception as exc:
        detail = f"ping not possible on this broker ({_error(exc)})"
    beat = None
    try:
        raw = cache.get("monitoring:worker-heartbeat")
        beat = parse_datetime(raw) if raw else None
    except Exception as exc:
        detail = detail or f"heartbeat unreadable ({_error(exc)})"
    fresh = beat is not None and timezone.now() - beat < HEARTBEAT_FRESH
    return {"alive": bool(names) or fresh, "names": names, "heartbeat": beat, "detail": detail}


def background_panel() -> Panel:
    panel = Panel()
    ok, detail = health.check_broker(timeout=2.0)
    transport = "Redis" if settings.REDIS_URL else "filesystem (var/broker)"
    panel.data["broker"] = {"ok": ok, "detail": detail, "transport": transport}
    if not ok:
        panel.fail(f"Broker unreachable: {detail}")
    else:
        try:
            panel.data["queues"] = _queue_lengths()
        except Exception as exc:
            panel.warnings.append(f"queue lengths: {_error(exc)}")
        workers = worker_status()
        panel.data["workers"] = workers
        if not workers["alive"]:
            panel.fail(
                "No worker answered the ping"
                + (f"; {workers['detail']}" if workers["detail"] else "")
            )
    try:
        panel.data["beat"] = list(
            PeriodicTask.objects.order_by("name").values(
                "name", "task", "enabled", "last_run_at", "total_run_count"
            )
        )
    except Exception as exc:
        panel.warnings.append(f"beat: {_error(exc)}")
    panel.data["failures"] = list(TaskFailure.objects.all()[:10])
    return panel


def _queue_lengths() -> list[dict]:

    names = sorted(
        {q.name for q in (app.amqp.queues.values() or [])}
        | {app.conf.task_default_queue or "celery"}
    )

    result = []
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        for name in names:
            try:
                length = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError as exc:
                # Redis keeps a queue as a list, and deletes the list when it is empty.
                if "NOT_FOUND" not in str(exc):
                    raise
                length = 0
            result.append({"name": name, "length": length})
    return result


# --- Integrations ---------------------------------------------------------------------------


def integrations_panel() -> Panel:
    """Email and Cloudinary checked (results cached a minute), and the media folder."""
    panel = Panel()
    checks = integrations.status()
    email = checks["email"]
    if email["reachable"] is False:
        panel.fail(f"Email unreachable: {email['detail']}")
    elif any(word in email["backend"] for word in ("console", "locmem", "filebased", "dummy")):
        panel.warnings.append("Email is not delivered (development backend)")
    panel.data["email"] = email
    cloudinary = checks["cloudinary"]
    if cloudinary["reachable"] is False:
        panel.fail(f"Cloudinary unreachable: {cloudinary['detail']}")
    panel.data["cloudinary"] = cloudinary

    storage = {"backend": settings.STORAGES["default"]["BACKEND"], "reachable": None, "detail": ""}
    root = layout.media_root()
    if root is not None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / ".monitor-probe"
            probe.write_text("ok")
            probe.unlink()
            storage.update(reachable=True, detail=f"Local folder {root}")
        except Exception as exc:
            storage.update(reachable=False, detail=_error(exc))
            panel.fail(f"Media folder not writable: {_error(exc)}")
    else:
        storage.update(detail="Cloudinary (credentials from CLOUDINARY_URL, not shown)")
    panel.data["storage"] = storage
    panel.data["offsite"] = offsite.describe()
    return panel


# --- Health dashboard -------------------------------------------------------------------------


def disk_usage() -> list[dict]:
    places = {
        "Data": Path(settings.VAR_DIR),
        "Media": layout.media_root(),
        "Backups": layout.backup_root(),
    }
    if settings.EMBEDDED_DATABASE:
        places["Data"] = Path(settings.VAR_DIR) / "pgdata"
    result, seen = [], set()
    for label, path in places.items():
        if path is None:
            continue
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        percent = usage.used / usage.total * 100 if usage.total else 0.0
        device = (usage.total, usage.used)
        result.append(
            {
                "label": label,
                "path": str(path),
                "percent": round(percent, 1),
                "free": usage.free,
                "total": usage.total,
                "same_disk": device in seen,
            }
        )
        seen.add(device)
    return result


def last_good_backup() -> Backup | None:
    return (
        Backup.objects.filter(status=BackupStatus.SUCCEEDED)
        .exclude(verification_status=VerificationStatus.FAILED)
        .order_by("-finished_at")
        .first()
    )


def health_panel() -> Panel:
    panel = Panel()
    try:
        series = metrics.last_hour()
        summary = metrics.hour_summary(series)
        panel.data["summary"] = summary
        panel.data["charts"] = [
            charts.line_chart("Requests per minute", [m.count for m in series]),
            charts.line_chart(
                "Error rate",
                [(m.errors / m.count * 100) if m.count else None for m in series],
                unit="%",
            ),
            charts.line_chart("p50 latency", [m.p50 for m in series], unit="ms"),
            charts.line_chart("p95 latency", [m.p95 for m in series], unit="ms"),
        ]
    except Exception as exc:
        panel.warnings.append(f"request metrics: {_error(exc)}")
    try:
        panel.data["disks"] = disks = disk_usage()
        for disk in disks:
            if disk["percent"] > DISK_ALERT_PERCENT:
                panel.fail(f"{disk['label']} disk is {disk['percent']}% full")
    except Exception as exc:
        panel.warnings.append(f"disk: {_error(exc)}")
    try:
        last = last_good_backup()
        panel.data["last_backup"] = last
        age = timezone.now() - last.finished_at if last else None
        panel.data["backup_age"] = age
        if age is None or age > BACKUP_MAX_AGE:
            panel.warnings.append("No good backup in the last 26 hours")
        panel.data["incidents"] = incidents = list(
            Incident.objects.filter(resolved_at__isnull=True)
        )
        for incident in incidents:
            # The badge cannot say OK while an incident is open.
            panel.fail(f"Open incident: {incident.get_kind_display()}")
    except Exception as exc:
        panel.fail(f"Database unreachable: {_error(exc)}")
    return panel


def health_findings() -> dict[str, str | None]:
    """Problems to alert on, by incident kind (None when fine).

    Each check runs on its own: one that cannot run (it raised) is left out, logged, and
    does not keep the others from being evaluated. Works with the broker down.
    """
    findings: dict[str, str | None] = {}
    ok, detail = health.check_database()
    findings["database"] = None if ok else detail
    if not ok:
        return findings  # everything below needs the database
    checks = {
        "broker": _broker_finding,
        "backup_age": _backup_age_finding,
        "disk": _disk_finding,
    }
    for kind, check in checks.items():
        try:
            findings.update(check())
        except Exception:
            logger.exception("Health check %s could not run", kind)
    return findings


def _broker_finding() -> dict[str, str | None]:
    ok, detail = health.check_broker(timeout=3.0)
    if not ok:
        return {"broker": detail}  # no worker can be asked: the worker kind is left as it is
    workers = worker_status(timeout=2.0)
    return {
        "broker": None,
        "worker": None
        if workers["alive"]
        else "No Celery worker answered a ping, and no heartbeat in 3 minutes.",
    }


def _backup_age_finding() -> dict[str, str | None]:
    last = last_good_backup()
    if last is not None and timezone.now() - last.finished_at <= BACKUP_MAX_AGE:
        return {"backup_age": None}
    if last is None:
        return {"backup_age": "There is no good backup yet."}
    when = timezone.localtime(last.finished_at)
    return {"backup_age": f"The last good backup finished at {when:%a %d %b %Y, %I:%M %p}."}


def _disk_finding() -> dict[str, str | None]:
    full = [d for d in disk_usage() if d["percent"] > DISK_ALERT_PERCENT]
    return {
        "disk": "; ".join(f"{d['label']} ({d['path']}) is {d['percent']}% full" for d in full)
        or None
    }


# --- Backups ----------------------------------------------------------------------------------


def backups_for_page(limit: int = 20) -> list[Backup]:
    """The newest backups; each in-progress one carries ``waiting_for_broker`` when its job
    is still in the outbox (the broker is down: it starts once the broker is back)."""
    backups = list(
        Backup.objects.select_related("requested_by").order_by("-created_at", "-id")[:limit]
    )
    if any(b.in_progress for b in backups):
        held_backups = outbox.waiting_for(RUN_BACKUP_TASK, "backup_id")
        held_checks = outbox.waiting_for(VERIFY_BACKUP_TASK, "backup_id")
        for b in backups:
            b.waiting_for_broker = (b.status == BackupStatus.PENDING and b.pk in held_backups) or (
                b.verification_status == VerificationStatus.PENDING and b.pk in held_checks
            )
    return backups


def get_backup(pk: int) -> Backup:

    return get_object_or_404(Backup, pk=pk)


def find_backup(pk: int) -> Backup | None:
    return Backup.objects.filter(pk=pk).first()


@dataclass
class RestoreJob:
    """A restore requested from the web, as the progress panel shows it."""

    id: str
    backup_id: int
    status: str
    percent: int
    message: str
    requested_by: str
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None
    report: dict | None
    error: str
    interrupted: bool = False

    @classmethod
    def from_state(cls, state: dict) -> RestoreJob:
        def when(key: str) -> datetime | None:
            return parse_datetime(state[key]) if state.get(key) else None

        return cls(
            id=state["id"],
            backup_id=state["backup_id"],
            status=state["status"],
            percent=state.get("percent") or 0,
            message=state.get("message") or "",
            requested_by=state.get("requested_by") or "",
            requested_at=when("requested_at"),
            started_at=when("started_at"),
            finished_at=when("finished_at"),
            updated_at=when("updated_at"),
            report=state.get("report"),
            error=state.get("error") or "",
        )

    @property
    def in_progress(self) -> bool:
        return self.status in (RestoreJobStatus.QUEUED, RestoreJobStatus.RUNNING) and not (
            self.interrupted
        )

    @property
    def took(self) -> str:
        if not (self.started_at and self.finished_at):
            return ""
        seconds = (self.finished_at - self.started_at).total_seconds()
        return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"

    @property
    def status_label(self) -> str:
        return "Interrupted" if self.interrupted else RestoreJobStatus(self.status).label


def get_restore_job(job_id: str) -> RestoreJob:
    """The job, or 404 when the id is unknown or expired (ids are random, never listed).

    A job still "running" while nobody holds the restore lock lost its worker: the worker
    records the outcome before letting go of the lock, so it is reported as interrupted.
    """

    state = restore_job_state(job_id)
    if state is None:
        raise Http404("No such restore job.")
    job = RestoreJob.from_state(state)
    if restore_job_too_late(state):  # the broker was down too long; the worker won't run it
        job.interrupted, job.error = True, RESTORE_TOO_LATE_TEXT
    if job.status == RestoreJobStatus.RUNNING and not locks.restore_running():
        job = RestoreJob.from_state(restore_job_state(job_id) or state)  # just finished?
        job.interrupted = job.status == RestoreJobStatus.RUNNING
    return job


def age_text(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (timezone.now() - when).total_seconds()
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{int(seconds // 86400)} days ago"
