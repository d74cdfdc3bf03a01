"""Reads for accounts: user lists, the audit search, notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, Notification, User
from accounts.roles import user_has_perm


def user_list(*, q: str = "", role: str = "") -> QuerySet[User]:
    qs = User.objects.all().order_by("last_name", "first_name", "id")
    if q:
        qs = qs.filter(
            Q(email__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q)
        )
    if role:
        qs = qs.filter(role=role)
    return qs


def audit_search(
    *,
    user: str = "",
    patient: int | None = None,
    action: str = "",
    date_from=None,
    date_to=None,
) -> QuerySet[AuditEvent]:
    """Events matching the filters, newest first (the newest event has the highest id)."""
    qs = AuditEvent.objects.order_by("-id")
    if user:
        qs = qs.filter(actor_email__icontains=user)
    if patient:
        qs = qs.filter(patient_id=patient)
    if action:
        qs = qs.filter(action=action)
    tz = timezone.get_current_timezone()
    if date_from:
        qs = qs.filter(created_at__gte=datetime.combine(date_from, time.min, tzinfo=tz))
    if date_to:
        qs = qs.filter(created_at__lte=datetime.combine(date_to, time.max, tzinfo=tz))
    return qs


# What a row of the audit trail page shows (``accounts/templatetags/audit_rows.py``).
AUDIT_ROW_FIELDS = (
    "id",
    "created_at",
    "actor_email",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "allowed",
    "ip",
    "request_id",
    "path",
)


def audit_rows(events: QuerySet[AuditEvent]) -> QuerySet:
    """``events`` as light named rows with only what the audit trail page shows (not the
    detail JSON, hashes or the actor's user row)."""
    return events.values_list(*AUDIT_ROW_FIELDS, named=True)


@dataclass
class AuditPage:
    """One page of the audit trail, newest first. ``older``/``newer``: the id to pass as
    ``before``/``after`` for the next older/newer page (None: there is none)."""

    rows: list
    older: int | None
    newer: int | None
    first: bool  # the newest page (no ``before``/``after``)


def audit_page(
    events: QuerySet[AuditEvent],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = 50,
) -> AuditPage:
    """A page of ``events`` by keyset: the newest ``size``, those just older than event
    ``before``, or those just newer than event ``after``. One query, walking the id order
    from the key; one row more than shown says whether the walk goes on, so nothing counts
    the matches (ten million events unfiltered)."""
    rows = audit_rows(events)
    if after is not None:
        got = list(rows.filter(id__gt=after).order_by("id")[: size + 1])
        shown = got[:size][::-1]
        return AuditPage(
            rows=shown,
            newer=shown[0].id if len(got) > size else None,
            older=shown[-1].id if shown else None,
            first=False,
        )
    if before is not None:
        rows = rows.filter(id__lt=before)
    got = list(rows[: size + 1])
    shown = got[:size]
    return AuditPage(
        rows=shown,
        older=shown[-1].id if len(got) > size else None,
        # Reached from an "older" link: the page it came from is newer.
        newer=shown[0].id if before is not None and shown else None,
        first=before is None,
    )


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_for_user(user, uid):
    """One API token the user may manage: their own, or anyone's for administrators;
    404 otherwise ("not found" and "not yours" alike)."""

    qs = ApiToken.objects.select_related("user")
    if not user_has_perm(user, "accounts.manage_users"):
        qs = qs.filter(user=user)
    try:
        return qs.get(uid=uid)
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise Http404("No such token") from None


def api_tokens_all(q: str = ""):
    """Every live API token with its owner, newest first; ``q`` matches the owner's email
    or name, or the token's name."""

    qs = ApiToken.objects.select_related("user").filter(expiry__gt=timezone.now())
    for word in q.split()[:4]:
        qs = qs.filter(
            Q(user__email__icontains=word)
            | Q(user__last_name__icontains=word)
            | Q(name__icontains=word)
        )
    return qs.order_by("-created")
