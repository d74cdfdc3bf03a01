"""The audit trail helper every domain calls to record reads and writes of patient data.

``audit_record`` appends one ``AuditEvent`` whose hash is chained to the previous event's.
Writers are serialised by a transaction-scoped PostgreSQL advisory lock, so the chain has
no forks even with many web processes and workers writing at once; the event commits or
rolls back with the caller's transaction (a rolled-back write leaves no event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.http import HttpRequest

from accounts.models import AuditAction, AuditEvent
from uscpis.http import client_ip

GENESIS_HASH = "0" * 64
_AUDIT_LOCK_KEY = 7_368_270_001  # any fixed bigint; identifies the audit-chain lock


def audit_record(
    *,
    actor=None,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    request: HttpRequest | None = None,
    allowed: bool = True,
    detail: dict | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Append an audit event and return it.

    ``obj`` fills ``object_type``/``object_id`` from a model instance. ``request`` supplies
    the IP address, request id and path (and the actor when none is given). Raises
    ``ValueError`` for an unknown action.
    """
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}")
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    safe_detail = json.loads(json.dumps(detail or {}, default=str))
    event = AuditEvent(
        actor=actor,
        actor_email=(actor.email if actor is not None else actor_email)[:254],
        action=action,
        object_type=object_type[:64],
        object_id=str(object_id or "")[:64],
        patient_id=patient_id,
        allowed=allowed,
        ip=(client_ip(request) or "")[:45] if request is not None else "",
        request_id=getattr(request, "request_id", "")[:64] if request is not None else "",
        path=request.get_full_path()[:512] if request is not None else "",
        detail=safe_detail,
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK_KEY])
        last_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last_hash or GENESIS_HASH
        event.hash = event.compute_hash()
        event.save()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None  # id of the first event whose link does not hold
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_chain_verify() -> ChainReport:
    """Walk the whole chain in order; report the first event whose link is broken."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.pk, "previous-hash link does not match (an event before it was removed or changed)")
        if event.compute_hash() != event.hash:
            return ChainReport(checked, event.pk, "contents do not match its hash (the event was edited)")
        expected_prev = event.hash
        checked += 1
    return ChainReport(checked, None)
