"""The audit trail: writing events on the request path, sealing them into a hash chain
off it, and verifying the chain.

Writing (``audit_record``) is one INSERT in the caller's transaction: an event commits or
rolls back with the change it describes. Writers never wait for each other. The one lock
they take is the *shared* side of the restore fence (``_AUDIT_LOCK_KEY``), which only a
database restore takes exclusively, so that no event is written while the restore has the
trail set aside (see ``monitoring.backups.restore_database``).

Sealing (``audit_seal``: the beat task every few seconds, ``manage.py audit seal``, and
before ``audit verify``) links events in id order: each sealed event stores ``prev_hash``
(the previous sealed event's hash, or ``GENESIS_HASH``) and ``hash`` = SHA-256 of
``prev_hash`` and its own contents. A database trigger lets UPDATE set these two columns
once, on an event whose seal is still empty, and refuses every other UPDATE and DELETE.

Id order is not commit order: a transaction may draw id 100, and commit after another
transaction's id 101 has committed. The sealer must never seal past such a gap, since
the late event could then never be chained in its place. The sealer's horizon:

1. read the id sequence's last value ``M``: every id up to ``M`` has been drawn;
2. then list the transactions holding ``RowExclusiveLock`` on the audit table. INSERT
   takes that lock when the statement is parsed, before the id default is evaluated, and
   keeps it until commit or rollback, so every transaction that drew an id up to ``M``
   and has not finished is on that list;
3. wait until each listed transaction has ended (PostgreSQL drops its virtual transaction
   id lock at that moment). Then every event with id up to ``M`` is committed or will never
   exist, and events up to ``M`` are sealed in id order.

Only transactions that wrote to the audit table are waited for (not the cluster-wide
``xmin``, which any other database's long transaction would hold back), and nothing is
inferred from wall-clock age. A writer that stays open longer than the wait postpones
sealing past its event to a later run; nothing is ever sealed out of order. This relies
on the id sequence having ``CACHE 1`` (the default): a session caching ids could insert a
pre-drawn id later without holding the table lock at step 2.

One sealer runs at a time (a session advisory lock on ``_SEALER_LOCK_KEY``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, User
from uscpis.http import client_ip
from uscpis.request_context import RequestOrigin, current_origin, phi_accessed

GENESIS_HASH = "0" * 64
# The restore fence: writers hold it shared for their transaction, a restore exclusively
# while the trail is set aside. (Named for monitoring.backups, which imports it.)
_AUDIT_LOCK_KEY = 7_368_270_001
_SEALER_LOCK_KEY = 7_368_270_002
_NO_ORIGIN = RequestOrigin(ip="", request_id="", path="")  # tasks and commands
TABLE = AuditEvent._meta.db_table

# The event's contents in hash order; prev_hash comes first.
PAYLOAD_COLUMNS = (
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
)
# Reads go by windows of ids, sorted here: a bounded range never tempts the planner into
# sorting millions of rows (as ORDER BY ... LIMIT over a wide range does without fresh
# statistics, e.g. right after a bulk load).
_SELECT_WINDOW = (
    f"SELECT id, prev_hash, hash, {', '.join(PAYLOAD_COLUMNS)} FROM {TABLE} "  # noqa: S608
    "WHERE id > %s AND id <= %s"
)
_NEXT_ID = f"SELECT min(id) FROM {TABLE} WHERE id > %s AND id <= %s"  # noqa: S608


# An event is written by one statement that first takes the shared side of the restore
# fence (the materialised CTE runs before its row is inserted) and then inserts the event,
# unsealed. Like any INSERT it takes RowExclusiveLock on the table when parsed, before the
# id default is drawn, which the sealer's horizon relies on.
# Its values are parameters typed where the column's type is not text (so the statement
# can also be prepared: uscpis.prepared), the fence's key a literal (a constant, and wider
# than a 32-bit parameter).
_INSERT_COLUMNS = (*PAYLOAD_COLUMNS[:-1], "detail")
_CASTS = {
    "created_at": "timestamptz",
    "actor_id": "bigint",
    "patient_id": "bigint",
    "allowed": "boolean",
    "detail": "jsonb",
}
_INSERT_VALUES = [f"%s::{_CASTS[c]}" if c in _CASTS else "%s" for c in _INSERT_COLUMNS]
_FENCE = f"WITH fence AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({_AUDIT_LOCK_KEY}))"
_INSERT_FENCED = (
    f"{_FENCE} "  # noqa: S608
    f"INSERT INTO {TABLE} ({', '.join(_INSERT_COLUMNS)}) "
    f"SELECT {', '.join(_INSERT_VALUES)} FROM fence "
    "RETURNING id"
)


def _read_window(cursor, after: int, through: int, size: int) -> tuple[list[tuple], int]:
    """Events with ``after < id <= min(after + size, through)`` in id order, and the window's
    end; an empty window skips ahead to the next event (ids have gaps: rolled-back writes)."""
    end = min(through, after + size)
    cursor.execute(_SELECT_WINDOW, [after, end])
    rows = cursor.fetchall()
    if not rows and end < through:
        cursor.execute(_NEXT_ID, [end, through])
        following = cursor.fetchone()[0]
        if following is None:
            return [], through
        end = min(through, following - 1 + size)
        cursor.execute(_SELECT_WINDOW, [following - 1, end])
        rows = cursor.fetchall()
    rows.sort(key=lambda row: row[0])
    return rows, end


def _event_row(
    *,
    actor: User | None,
    action: AuditAction | str,
    obj,
    object_type: str,
    object_id: str | int,
    patient_id: int | None,
    request: HttpRequest | None,
    allowed: bool,
    detail: dict | None,
    actor_email: str,
    instance: bool = True,
) -> tuple[AuditEvent | None, list]:
    """The event ``audit_record`` writes (unsaved; ``None`` unless ``instance``) and the
    parameters of ``_INSERT_FENCED`` that write it."""
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    if request is not None:
        origin = RequestOrigin(
            ip=(client_ip(request) or "")[:45],
            request_id=getattr(request, "request_id", "")[:64],
            path=request.get_full_path()[:512],
        )
    else:
        origin = current_origin.get() or _NO_ORIGIN
    detail_json = json.dumps(detail or {}, default=str)
    action = AuditAction(action)
    values = {
        "created_at": timezone.now(),
        "actor_id": actor.pk if actor is not None else None,
        "actor_email": (actor.email if actor is not None else actor_email)[:254],
        "action": action.value,
        "object_type": object_type[:64],
        "object_id": str(object_id or "")[:64],
        "patient_id": patient_id,
        "allowed": allowed,
        "ip": origin.ip,
        "request_id": origin.request_id,
        "path": origin.path,
    }
    params = [*(values[c] for c in _INSERT_COLUMNS[:-1]), detail_json]
    if not instance:
        return None, params
    del values["actor_id"]
    values["action"] = action
    return AuditEvent(actor=actor, detail=json.loads(detail_json), **values), params


def audit_record(
    *,
    actor: User | None = None,
    action: AuditAction | str,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    request: HttpRequest | None = None,
    allowed: bool = True,
    detail: dict | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Append an audit event (unsealed; ``audit_seal`` chains it later) and return it.

    ``obj`` fills ``object_type``/``object_id`` from a model instance. The IP address,
    request id and path come from the current request's origin (set by the request-id
    middleware; empty in tasks and commands); an explicit ``request`` overrides them and
    supplies the actor when none is given. Raises ``ValueError`` for an unknown action.
    Never waits for other writers; waits only while a restore has the trail set aside.
    """
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    event, params = _event_row(
        actor=actor,
        action=action,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        request=request,
        allowed=allowed,
        detail=detail,
        actor_email=actor_email,
    )
    # Autocommit: the one statement is its own transaction (one round trip instead of BEGIN,
    # fence, INSERT, COMMIT). In the caller's transaction the fence is held until it ends,
    # and an error marks that transaction for rollback, as any failed write in it would.
    # A read event on its own commits without waiting for the WAL flush (see
    # ``READ_EVENT_NO_FLUSH_WAIT``), set by the statement itself for its own transaction.
    unflushed = action == AuditAction.READ
    sql = _read_event_sql(_INSERT_FENCED) if unflushed else _INSERT_FENCED
    guard = transaction.atomic(savepoint=False) if connection.in_atomic_block else nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias
    return event


PHI_PURPOSES = (AuditAction.READ, AuditAction.EXPORT)


def audit_phi_access(
    *,
    actor: User | None,
    action: AuditAction | str,
    patient_id: int | None,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict | None = None,
) -> AuditEvent | None:
    """Record that ``actor`` read or exported one patient's data — once per request.

    The only writer of per-patient "read"/"export" events: the access helpers in
    ``patients.selectors`` (and the few pages that show one patient's data without them) call
    it, so serving patient data cannot skip the trail. Within one request a second read (or
    second export) of the same patient is not recorded again; returns ``None`` then.
    """
    if action not in PHI_PURPOSES:
        raise ValueError(f"Not a PHI access purpose: {action!r}")
    seen = phi_accessed.get()
    if seen is not None:
        key = (patient_id, str(action))
        if key in seen:
            return None
        seen.add(key)
    return audit_record(
        actor=actor,
        action=action,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        detail=detail,
    )


def audit_phi_served(
    user,
    purpose: AuditAction | None,
    *,
    patient_id: int | None,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict | None = None,
) -> AuditEvent | None:
    """What an access helper calls once it has fetched a record ``user`` may see: audit that
    it is being served (``purpose`` READ or EXPORT), once per patient and purpose per
    request. ``purpose=None`` is for write paths whose service records the change itself
    (the page answering a POST shows no more than what was written); nothing is recorded."""
    if purpose is None:
        return None
    return audit_phi_access(
        actor=user if getattr(user, "is_authenticated", False) else None,
        action=purpose,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        detail=detail,
    )


def audit_phi_denied(user, *, object_type: str, object_id, patient_id: int | None) -> AuditEvent:
    """An existing record the user may not see: the caller answers 404 (existence never
    leaks), and the trail keeps the attempt, naming the patient whose record was probed."""
    return audit_record(
        actor=user if getattr(user, "is_authenticated", False) else None,
        action=AuditAction.DENIED,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        allowed=False,
        detail={"reason": "not visible to this user (answered 404)"},
    )


def read_purpose(request: HttpRequest) -> AuditAction | None:
    """READ for a GET or HEAD (the page shows the record), ``None`` for a write: its service
    records the change, and the page answering it shows no more than what was written."""
    return AuditAction.READ if request.method in ("GET", "HEAD") else None


# The read event of a page that sends it in one round trip with the reads it audits
# (``audit_phi_read_statement``): the same INSERT, writing its row only if a condition
# holds (e.g. the patient exists), so nothing is recorded for a record that is not served.
_INSERT_FENCED_IF = _INSERT_FENCED.replace(
    " FROM fence RETURNING id", " FROM fence WHERE {condition} RETURNING id"
)
# Called by a read event's INSERT (``audit_record``'s, and those sent with the reads they
# audit) when it is its own transaction (autocommit): the event commits without waiting for
# its WAL to reach the disk. It is visible (and sealable) at once and on disk within
# PostgreSQL's ``wal_writer_delay`` x 3 (0.6 s by default); only a crash of the database
# server in that window loses it. WAL is flushed in order, so any later synchronous commit
# (every change, every seal) makes it durable first: a sealed chain never ends in a lost
# event. Changes' events are written in their callers' transactions and keep their
# synchronous commit. settings.AUDIT_READ_EVENTS_WAIT_FOR_FLUSH turns this off.
#
# The setting is made by the INSERT's own fence (a transaction-local setting, read when the
# statement's transaction commits), not by a statement sent before it: an event is always
# one statement, which a page can carry inside its own statement (one statement per round
# trip, whether parameters are bound client- or server-side) or prepare.
READ_EVENT_NO_FLUSH_WAIT = "set_config('synchronous_commit', 'off', true)"
_FENCE_NO_FLUSH_WAIT = f"{_FENCE[:-1]}, {READ_EVENT_NO_FLUSH_WAIT})"


def _read_event_sql(sql: str) -> str:
    """A read event's INSERT (``sql``, built on ``_INSERT_FENCED``), committing without the
    flush wait when it is its own transaction (``READ_EVENT_NO_FLUSH_WAIT``)."""
    if connection.in_atomic_block or settings.AUDIT_READ_EVENTS_WAIT_FOR_FLUSH:
        return sql
    assert sql.startswith(_FENCE)
    return _FENCE_NO_FLUSH_WAIT + sql[len(_FENCE) :]


@dataclass(frozen=True)
class PendingPhiRead:
    """A read event ``audit_phi_read_statement`` prepared: ``statements`` to send (in one
    round trip with the reads), then ``recorded(rows)`` with the INSERT's rows."""

    statements: tuple[tuple[str, list], ...]
    key: tuple[int | None, str]

    def recorded(self, rows: Sequence[tuple]) -> bool:
        """Whether the event was written (its condition held). If not, this request may
        still record the read later, as if it had not been tried."""
        if rows:
            return True
        seen = phi_accessed.get()
        if seen is not None:
            seen.discard(self.key)
        return False


def audit_phi_read_statement(
    *,
    actor: User | None,
    patient_id: int,
    condition: tuple[str, Sequence],
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict | None = None,
) -> PendingPhiRead | None:
    """``audit_phi_access(action=READ, ...)`` as statements for the caller to send with the
    reads it audits (``uscpis.compiled.fetch_together``): the event is written when
    ``condition`` (SQL and its parameters, e.g. the record exists) holds. ``None`` when this
    request has already recorded the read (nothing to send), as ``audit_phi_access``.

    The caller must pass the INSERT's rows to ``recorded`` and must not serve the record
    when it returns False. Inside a transaction the event is the caller's, as with
    ``audit_record``; on its own it is committed without waiting for the WAL flush (see
    ``READ_EVENT_NO_FLUSH_WAIT``)."""
    key = (patient_id, str(AuditAction.READ))
    seen = phi_accessed.get()
    if seen is not None:
        if key in seen:
            return None
        seen.add(key)
    params = _read_event_params(
        actor=actor,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        detail=detail,
    )
    sql, condition_params = condition
    insert = _read_event_sql(_INSERT_FENCED_IF.format(condition=sql))
    return PendingPhiRead(statements=((insert, [*params, *condition_params]),), key=key)


def _read_event_params(*, actor, obj, object_type, object_id, patient_id, detail) -> list:
    """The INSERT parameters of a read event sent with the reads it audits."""
    _, params = _event_row(
        instance=False,
        actor=actor,
        action=AuditAction.READ,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        request=None,
        allowed=True,
        detail=detail,
        actor_email="",
    )
    return params


# The read event of a record whose patient is only known once it is read (an invoice by its
# id): the patient's id comes from a statement in the INSERT itself, which writes no row
# when that statement finds none.
_PATIENT_AT = _INSERT_COLUMNS.index("patient_id")


def _insert_reading(*, patient: str, detail: str, source: str, where: str, returning: str) -> str:
    """``_INSERT_FENCED`` with the patient and detail columns taken from ``source`` (the
    caller's SQL: its values are parameters, as audit_phi_read_statement's condition), a
    row written only ``where`` it holds; every other column a parameter."""
    head, _ = _INSERT_FENCED.split(" SELECT ", 1)
    values = [*_INSERT_VALUES[:-1], detail]
    values[_PATIENT_AT] = patient
    return (
        f"{head} SELECT {', '.join(values)} FROM fence, {source} "  # noqa: S608
        f"WHERE {where} RETURNING {returning}"
    )


def _insert_naming_patient_of(patient_of_sql: str) -> str:
    return _insert_reading(
        patient="subject.patient_id",
        detail="%s::jsonb",
        source=f"({patient_of_sql}) AS subject(patient_id)",
        where="subject.patient_id IS NOT NULL",
        returning="id, patient_id",
    )


@dataclass(frozen=True)
class PendingPhiReadOf:
    """A read event ``audit_phi_read_of_statement`` prepared: ``statements`` to send (in
    one round trip with the reads), then ``recorded(rows)`` with the INSERT's rows."""

    statements: tuple[tuple[str, list], ...]

    def recorded(self, rows: Sequence[tuple]) -> int | None:
        """The patient the event named, or ``None`` if none was written (no patient found):
        the read of that patient is recorded for this request, as ``audit_phi_access``
        records it."""
        if not rows:
            return None
        patient_id = rows[0][1]
        seen = phi_accessed.get()
        if seen is not None:
            seen.add((patient_id, str(AuditAction.READ)))
        return patient_id


def audit_phi_read_of_statement(
    *,
    actor: User | None,
    patient_of: tuple[str, Sequence],
    object_type: str,
    object_id: str | int,
    detail: dict | None = None,
) -> PendingPhiReadOf | None:
    """``audit_phi_access(action=READ, ...)`` of a record whose patient the caller learns
    only from the reads it sends this event with: ``patient_of`` (SQL and its parameters)
    selects the patient's id (one row; none when the record does not exist), and the event
    names that patient, written only when there is one.

    ``None`` when this request has already recorded a read: whether it was this patient's
    is not known before the round trip, so the caller reads first and records through the
    access helper's path (``audit_phi_served``), which records each patient's read once.
    Inside a transaction the event is the caller's; on its own it is committed without
    waiting for the WAL flush, as ``audit_phi_read_statement``'s."""
    if phi_accessed.get():
        return None
    params = _read_event_params(
        actor=actor,
        obj=None,
        object_type=object_type,
        object_id=object_id,
        patient_id=None,
        detail=detail,
    )
    sql, patient_params = patient_of
    del params[_PATIENT_AT]
    insert = _read_event_sql(_insert_naming_patient_of(sql))
    return PendingPhiReadOf(statements=((insert, [*params, *patient_params]),))


# The read event of a list of patients (a search's page) sent in the statement that reads
# the page: the ids come from the caller's SQL, and no row is written when it lists none.
def _insert_naming_patients_in(ids_sql: str) -> str:
    return _insert_reading(
        patient="CASE WHEN cardinality(served.ids) = 1 THEN served.ids[1] END",
        detail="%s::jsonb || jsonb_build_object('patients', to_jsonb(served.ids))",
        source=f"({ids_sql}) AS served(ids)",
        where="cardinality(served.ids) > 0",
        returning="id",
    )


@dataclass(frozen=True)
class PendingPhiReadList:
    """A read event ``audit_phi_read_list_statement`` prepared: ``insert`` to send inside
    the statement that reads the list; ``recorded(ids)`` once it has run, with the ids it
    listed."""

    insert: tuple[str, list]

    def recorded(self, ids: Sequence[int]) -> None:
        """The statement ran and listed ``ids`` (none: no event was written): the read is
        recorded for this request, as ``audit_phi_access`` records it."""
        seen = phi_accessed.get()
        if ids and seen is not None:
            seen.add((ids[0] if len(ids) == 1 else None, str(AuditAction.READ)))


def audit_phi_read_list_statement(
    *, actor: User | None, object_type: str, detail: dict, ids_sql: str
) -> PendingPhiReadList | None:
    """``audit_phi_served(actor, READ, object_type=object_type, patient_id=<the one
    patient, if one>, detail={**detail, "patients": ids})`` of a list of patients, as a
    data-modifying statement for the caller to put in the statement that reads the list
    (one round trip): ``ids_sql`` selects one row, the ``bigint[]`` of the patients
    served, in the order served (NULL or empty: nothing is written).

    ``None`` when this request has already recorded a read (which patients' is not known
    before the statement runs): the caller reads first and records through
    ``audit_phi_served``. Inside a transaction the event is the caller's; on its own it is
    committed without waiting for the WAL flush, as ``audit_phi_read_statement``'s."""
    if phi_accessed.get():
        return None
    params = _read_event_params(
        actor=actor, obj=None, object_type=object_type, object_id="", patient_id=None, detail=detail
    )
    del params[_PATIENT_AT]
    return PendingPhiReadList(insert=(_read_event_sql(_insert_naming_patients_in(ids_sql)), params))


def audit_phi_list(
    *,
    actor: User | None,
    object_type: str,
    detail: dict,
    action: AuditAction | str = AuditAction.READ,
) -> AuditEvent:
    """Record a page (queue, list, report) that showed many patients at once: one event
    naming no single patient, the ids (or the filter) in ``detail``."""
    if action not in PHI_PURPOSES:
        raise ValueError(f"Not a PHI access purpose: {action!r}")
    return audit_record(actor=actor, action=action, object_type=object_type, detail=detail)


# --- Hashing --------------------------------------------------------------------------------


def chain_hash(prev_hash: str, payload: Sequence) -> str:
    """SHA-256 of ``prev_hash`` and an event's contents (``PAYLOAD_COLUMNS`` order).

    Values as read from the database: ``detail`` as a dict or as its JSON text, and the
    timestamp in any zone (hashed in UTC).
    """
    values = list(payload)
    created_at: datetime = values[0]
    values[0] = created_at.astimezone(UTC).isoformat()
    if isinstance(values[-1], str):
        values[-1] = json.loads(values[-1])
    encoded = json.dumps(
        [prev_hash, *values], sort_keys=True, separators=(",", ":"), default=str
    ).encode()
    return hashlib.sha256(encoded).hexdigest()


# --- Sealing --------------------------------------------------------------------------------


class AuditChainError(Exception):
    """The trail is in a state the sealer must not build on (found only after tampering)."""


@dataclass(frozen=True)
class SealReport:
    sealed: int
    head_id: int | None  # the last sealed event after this run
    head_hash: str | None
    skipped: str = ""  # why nothing was sealed (another sealer, a restore, a slow writer)


# Transactions (other than ours) that may hold an uncommitted audit event.
_OPEN_WRITERS = (
    "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND relation = %s::regclass AND mode = 'RowExclusiveLock' AND granted "
    "AND pid IS DISTINCT FROM pg_backend_pid()"
)
_STILL_OPEN = "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(%s)"


def _sealing_horizon(cursor, wait_seconds: float) -> tuple[int | None, int]:
    """The highest id below which no event can still appear, or None if a writer holding a
    possible gap stayed open for ``wait_seconds``; with the number of writers waited for."""
    cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id'))", [TABLE])
    drawn = cursor.fetchone()[0]
    if drawn is None:
        return 0, 0
    cursor.execute(_OPEN_WRITERS, [TABLE])
    writers = [row[0] for row in cursor.fetchall()]
    deadline = time.monotonic() + wait_seconds
    pause = 0.005
    while writers:
        cursor.execute(_STILL_OPEN, [writers])
        if cursor.fetchone()[0] == 0:
            break
        if time.monotonic() >= deadline:
            return None, len(writers)
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return drawn, len(writers)


def _chain_head(cursor) -> tuple[int, str, int | None]:
    """(id, hash) of the last sealed event (0 and ``GENESIS_HASH`` for none) and the first
    unsealed id (None when all are sealed). Uses the partial index of unsealed events."""
    cursor.execute(f"SELECT min(id) FROM {TABLE} WHERE hash IS NULL")  # noqa: S608
    first_unsealed = cursor.fetchone()[0]
    if first_unsealed is None:
        cursor.execute(f"SELECT id, hash FROM {TABLE} ORDER BY id DESC LIMIT 1")  # noqa: S608
    else:
        cursor.execute(
            f"SELECT id, hash FROM {TABLE} WHERE id < %s ORDER BY id DESC LIMIT 1",  # noqa: S608
            [first_unsealed],
        )
    row = cursor.fetchone()
    head_id, head_hash = row if row else (0, GENESIS_HASH)
    if head_hash is None:  # not possible: min(id) of unsealed is first_unsealed
        raise AuditChainError(f"Event {head_id} is unsealed below the chain head")
    return head_id, head_hash, first_unsealed


def _seal_window(cursor, head_id: int, head_hash: str, through: int, size: int):
    """Seal the events in the next window of ids after the head (up to ``through``); return
    the count and the new head."""
    rows, _ = _read_window(cursor, head_id, through, size)
    if not rows:
        return 0, head_id, head_hash
    values = []
    prev = head_hash
    for event_id, _prev, sealed_hash, *payload in rows:
        if sealed_hash is not None:
            raise AuditChainError(
                f"Event {event_id} is sealed but an event before it is not: the trail was "
                "changed outside the application; run `manage.py audit verify`."
            )
        digest = chain_hash(prev, payload)
        values.append((event_id, prev, digest))
        prev = digest
    placeholders = ", ".join(["(%s::bigint, %s, %s)"] * len(values))
    cursor.execute(
        f"UPDATE {TABLE} AS e SET prev_hash = v.prev, hash = v.hash "  # noqa: S608
        f"FROM (VALUES {placeholders}) AS v(id, prev, hash) "
        "WHERE e.id = v.id AND e.hash IS NULL",
        [value for row in values for value in row],
    )
    if cursor.rowcount != len(values):
        raise AuditChainError("Events changed while they were being sealed")
    return len(values), values[-1][0], prev


def audit_seal(
    *,
    wait_seconds: float = 5.0,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> SealReport:
    """Seal every event that can no longer be preceded by a late commit, in id order.

    Waits up to ``wait_seconds`` for another sealer and for writers that may still fill a
    gap; if they stay, seals nothing and says why in ``skipped`` (the next run catches up).
    Each batch commits on its own (``progress`` gets the running count), so a long run
    keeps what it sealed. Stops quietly while a restore holds the fence. Raises
    ``AuditChainError`` when the trail was changed outside the application.
    """
    deadline = time.monotonic() + wait_seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SEALER_LOCK_KEY])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                return SealReport(0, None, None, "another sealer is running")
            time.sleep(0.05)
        try:
            return _seal_locked(cursor, max(deadline - time.monotonic(), 0), batch_size, progress)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_SEALER_LOCK_KEY])


def _seal_locked(cursor, wait_seconds, batch_size, progress) -> SealReport:
    through, writers = _sealing_horizon(cursor, wait_seconds)
    if through is None:
        head_id, head_hash, _ = _chain_head(cursor)
        return SealReport(0, head_id, head_hash, f"{writers} writer(s) still open")
    sealed = 0
    while True:
        with transaction.atomic():
            cursor.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", [_AUDIT_LOCK_KEY])
            if not cursor.fetchone()[0]:
                return SealReport(sealed, None, None, "a restore is in progress")
            head_id, head_hash, first_unsealed = _chain_head(cursor)
            if first_unsealed is None or first_unsealed > through:
                return SealReport(sealed, head_id, head_hash)
            count, head_id, head_hash = _seal_window(
                cursor, head_id, head_hash, through, batch_size
            )
        if count == 0:  # cannot happen (an unsealed event lies within reach); never spin
            return SealReport(sealed, head_id, head_hash)
        sealed += count
        if progress is not None:
            progress(sealed)


def audit_seal_fenced(cursor) -> int:
    """Seal every event, on a connection that holds the restore fence exclusively, so no
    writer is in flight and no sealer can run: no horizon to wait for.

    For a restore (before it sets the trail aside, so the rows it puts back are sealed
    whatever schema the backup has) and for bulk loads that append sealed events after the
    head. ``cursor`` is a Django or psycopg cursor; each batch is one UPDATE statement, so
    in autocommit mode each batch commits on its own. Returns the count sealed.
    """
    sealed = 0
    while True:
        head_id, head_hash, first_unsealed = _chain_head(cursor)
        if first_unsealed is None:
            return sealed
        count = _seal_window(cursor, head_id, head_hash, 2**62, 5000)[0]
        if count == 0:  # cannot happen (the first unsealed event is within reach)
            return sealed
        sealed += count


# --- Verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    checked: int  # sealed events verified before the first broken link (all when intact)
    broken_at: int | None  # id of the first event whose link does not hold
    reason: str = ""
    head_id: int | None = None  # the last sealed event when the check started
    head_hash: str | None = None
    unsealed: int = 0  # events after the head, not chained yet
    oldest_unsealed_id: int | None = None
    oldest_unsealed_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_chain_verify(
    *,
    seal: bool = True,
    seal_wait_seconds: float = 30.0,
    batch_size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Check every sealed event in id order; report the first broken link, and the events
    not sealed yet (count and oldest).

    Detects any edit of a sealed event (its contents no longer give its hash), any deletion
    or reordering (the next event's ``prev_hash`` no longer matches, or contents move to an
    id whose chain hash does not fit them), and an unsealed event below sealed ones. Seals
    first unless ``seal=False``. Reads in windows of ``batch_size`` ids; ``progress``
    gets (checked, ids to check) after each batch. Memory stays flat at any size.
    """
    if seal:
        with suppress(AuditChainError):  # the walk below finds and reports the cause
            audit_seal(wait_seconds=seal_wait_seconds)
    with connection.cursor() as cursor:
        head_id, head_hash, _ = _chain_head_for_verify(cursor)
        expected_prev, after, checked = GENESIS_HASH, 0, 0
        while after < head_id:
            rows, after = _read_window(cursor, after, head_id, batch_size)
            for event_id, prev_hash, digest, *payload in rows:
                broken = _check_link(expected_prev, prev_hash, digest, payload)
                if broken:
                    return ChainReport(checked, event_id, broken, head_id, head_hash)
                expected_prev = digest
                checked += 1
            if progress is not None:
                progress(checked, head_id)
        cursor.execute(
            f"SELECT count(*), min(id), min(created_at) FROM {TABLE} WHERE id > %s",  # noqa: S608
            [head_id],
        )
        unsealed, oldest_id, oldest_at = cursor.fetchone()
    return ChainReport(
        checked, None, "", head_id or None, head_hash, unsealed, oldest_id, oldest_at
    )


def _chain_head_for_verify(cursor) -> tuple[int, str | None, int | None]:
    """The last sealed event, found from the top of the table (so an unsealed event below
    it is walked over and reported, not taken for the end of the chain)."""
    cursor.execute(
        f"SELECT id, hash FROM {TABLE} WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1"  # noqa: S608
    )
    row = cursor.fetchone()
    return (row[0], row[1], None) if row else (0, None, None)


def _check_link(expected_prev: str, prev_hash, digest, payload) -> str:
    if digest is None:
        return "the event is not sealed though later events are (its seal was removed)"
    if prev_hash != expected_prev:
        return (
            "previous-hash link does not match (an event before it was removed, inserted or moved)"
        )
    if chain_hash(prev_hash, payload) != digest:
        return "contents do not match its hash (the event was edited or moved)"
    return ""
