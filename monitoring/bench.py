"""Benchmark data and cases for the audit trail and the monitoring page.

``generate`` tops the audit trail up to ``scale["audit_events"]`` events (10,000,000 by
default: a few years of a busy clinic). They are ordinary events of the current
``AuditEvent`` model — chart reads, record edits, bookings, sign-ins, failed sign-ins and
denials by the clinic's staff, spread over three years with ids in time order — appended
after the newest event and sealed into the hash chain exactly as ``audit_seal`` would, so
``manage.py audit verify`` walks the whole trail. Rows go in with one ``COPY`` stream; the
secondary indexes and constraints are dropped for the load and rebuilt afterwards inside
the same transaction (a bulk build is several times faster than maintaining seven indexes
row by row), while the audit trail's restore fence keeps live writers out (they wait), so
the loaded events chain on after every event written before them.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from accounts.audit import _AUDIT_LOCK_KEY, GENESIS_HASH, audit_seal_fenced
from accounts.models import User
from uscpis.bench import page_case
from uscpis.benchhttp import HttpPage

TABLE = "accounts_auditevent"
COPY_COLUMNS = (
    "created_at",
    "actor_id",
    "actor_email",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "allowed",
    "ip",
    "request_id",
    "path",
    "detail",
    "prev_hash",
    "hash",
)
SPAN = timedelta(days=3 * 365)
PROGRESS_EVERY = 500_000
BULK_THRESHOLD = 200_000  # from here on, drop and rebuild the indexes around the load


def event_hash(
    prev_hash: str,
    created_at: datetime,
    actor_id,
    actor_email: str,
    action: str,
    object_type: str,
    object_id: str,
    patient_id,
    allowed: bool,
    ip: str,
    request_id: str,
    path: str,
    detail: dict,
) -> str:
    """``AuditEvent.compute_hash`` without building a model instance (the same payload)."""
    payload = json.dumps(
        [
            prev_hash,
            created_at.isoformat(),
            actor_id,
            actor_email,
            action,
            object_type,
            object_id,
            patient_id,
            allowed,
            ip,
            request_id,
            path,
            detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def _staff() -> list[tuple[int, str]]:

    rows = list(
        User.objects.filter(is_active=True)
        .exclude(role="patient")
        .order_by("id")
        .values_list("id", "email")
    )
    return rows or [(None, "")]


def _patient_range() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MIN(id), 1), COALESCE(MAX(id), 1) FROM patients_patient")
        return cursor.fetchone()


def _events(
    rng: random.Random,
    count: int,
    prev_hash: str,
    start: datetime,
    step: timedelta,
    staff,
    patients: tuple[int, int],
):
    """Yield ``(copy_line, hash)`` for ``count`` chained events starting at ``start``."""
    low, high = patients
    for i in range(count):
        created_at = start + step * i
        actor_id, actor_email = staff[rng.randrange(len(staff))]
        roll = rng.random()
        patient_id = rng.randint(low, high)
        allowed, detail = True, {}
        ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if roll < 0.70:
            action, object_type, object_id = "read", "patients.patient", str(patient_id)
            path = f"/patients/{patient_id}/"
        elif roll < 0.80:
            visit = rng.randint(1, 2_000_000)
            action, object_type, object_id = "read", "patients.visit", str(visit)
            path = f"/patients/{patient_id}/visits/{visit}/"
        elif roll < 0.88:
            action, object_type, object_id = "update", "patients.patient", str(patient_id)
            path = f"/patients/{patient_id}/edit/"
            detail = {"fields": ["phone", "address"]}
        elif roll < 0.94:
            appointment = rng.randint(1, 1_000_000)
            action, object_type, object_id = "create", "appointments.appointment", str(appointment)
            path = "/appointments/book/"
            detail = {"status": "booked"}
        elif roll < 0.985:
            action, object_type, object_id = "login", "accounts.user", str(actor_id or "")
            path, patient_id = "/accounts/login/", None
        elif roll < 0.995:
            action, object_type, object_id = "login_failed", "accounts.user", ""
            path, patient_id, allowed = "/accounts/login/", None, False
            actor_email, actor_id = f"unknown{rng.randrange(1000)}@usc.edu.ph", None
            detail = {"reason": "bad credentials"}
        else:
            action, object_type, object_id = "denied", "patients.patient", str(patient_id)
            path, allowed = f"/patients/{patient_id}/", False
        request_id = uuid.UUID(int=rng.getrandbits(128)).hex
        digest = event_hash(
            prev_hash,
            created_at,
            actor_id,
            actor_email,
            action,
            object_type,
            object_id,
            patient_id,
            allowed,
            ip,
            request_id,
            path,
            detail,
        )
        fields = (
            created_at.isoformat(),
            actor_id,
            actor_email,
            action,
            object_type,
            object_id,
            patient_id,
            allowed,
            ip,
            request_id,
            path,
            json.dumps(detail, separators=(",", ":")),
            prev_hash,
            digest,
        )
        yield "\t".join(_copy_text(f) for f in fields) + "\n"
        prev_hash = digest


def _secondary_structures(cursor) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(constraints, indexes) of the audit table other than its primary key and checks."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY conname",
        [TABLE],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
        "AND c.conrelid = %s::regclass) ORDER BY i.indexname",
        [TABLE, TABLE],
    )
    return constraints, cursor.fetchall()


def generate(scale: dict, stdout) -> None:
    """Top the audit trail up to ``scale["audit_events"]`` chained events. Idempotent."""

    target = int(scale.get("audit_events", 0))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_auditevent")
        have = cursor.fetchone()[0]
    missing = target - have
    if missing <= 0:
        stdout.write(f"  audit: {have:,} events already")
        return
    stdout.write(f"  audit: appending {missing:,} chained events to {have:,}...")
    staff, patients = _staff(), _patient_range()
    rng = random.Random(2026 + have)
    now = datetime.now(UTC).replace(microsecond=0)
    step = SPAN / missing
    big = missing >= BULK_THRESHOLD
    with transaction.atomic(), connection.cursor() as cursor:
        # The restore fence, exclusively: no audit writer is in flight, so the events
        # written so far are sealed first and the loaded ones chain on after them.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK_KEY])
        audit_seal_fenced(cursor)
        cursor.execute("SELECT hash FROM accounts_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        prev_hash = row[0] if row else GENESIS_HASH
        constraints, indexes = _secondary_structures(cursor) if big else ([], [])
        if big:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for name, _ in constraints:
                cursor.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        events = _events(rng, missing, prev_hash, now - SPAN, step, staff, patients)
        columns = ", ".join(COPY_COLUMNS)
        with cursor.cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN") as copy:
            buffer: list[str] = []
            for n, line in enumerate(events, 1):
                buffer.append(line)
                if len(buffer) >= 10_000:
                    copy.write("".join(buffer))
                    buffer = []
                if n % PROGRESS_EVERY == 0:
                    stdout.write(f"    ... {n:,} / {missing:,}")
            if buffer:
                copy.write("".join(buffer))
        if big:
            stdout.write("    rebuilding the audit indexes and constraints...")
            for _, definition in indexes:
                cursor.execute(definition)
            for name, definition in constraints:
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_auditevent")
        stdout.write(f"  audit: {cursor.fetchone()[0]:,} events in total")


def _admin():

    return User.objects.filter(role="admin", is_active=True).order_by("id").first()


CASES = [
    page_case(
        "monitoring: monitoring page",
        user=_admin,
        url=lambda: "/monitoring/",
        description="the administrator's monitoring page (health, queues, backups)",
    ),
    page_case(
        "accounts: audit trail page",
        user=_admin,
        url=lambda: "/accounts/audit/",
        description="first page of the audit trail at 10M events",
    ),
]


HTTP_PAGES = [
    HttpPage("monitoring page", "/monitoring/", user="admin@usc.edu.ph"),
    HttpPage("audit trail (10M events)", "/accounts/audit/", user="admin@usc.edu.ph"),
]
