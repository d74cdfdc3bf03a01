"""Alert episodes: low stock, expiry within 30/60/90 days, maintenance due and overdue.

Each run compares the conditions that hold now with the open episodes. A condition that
starts opens an episode (a partial unique index on ``key`` among open episodes makes the
open race-free and the whole run idempotent) and inventory managers are notified once,
in-app and by email. A condition that clears closes its episode, so the next time it
starts is a new episode with a new notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Min
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import notify
from inventory.models import (
    AlertEpisode,
    AlertKind,
    EquipmentStatus,
    Item,
    LotStatus,
    MaintenanceSchedule,
)
from inventory.quantities import fmt_qty
from inventory.selectors import EXPIRY_WINDOWS, low_stock_items
from inventory.services.stock import lots_quarantine_expired

MAINTENANCE_NOTICE_DAYS = 14


@dataclass
class AlertRun:
    quarantined: int = 0
    opened: list[AlertEpisode] = field(default_factory=list)
    closed: int = 0


def _open(kind: str, key: str, detail: str, **refs) -> AlertEpisode | None:
    """Open an episode unless one with ``key`` is already open (then ``None``)."""
    if AlertEpisode.objects.filter(key=key, closed_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            return AlertEpisode.objects.create(kind=kind, key=key, detail=detail[:300], **refs)
    except IntegrityError:
        return None  # a concurrent run opened it first


def _close_except(kinds: list[str], keep: set[str]) -> int:
    return (
        AlertEpisode.objects.filter(kind__in=kinds, closed_at__isnull=True)
        .exclude(key__in=keep)
        .update(closed_at=timezone.now())
    )


def _low_stock(run: AlertRun, today: date) -> None:
    keep = set()
    for item in low_stock_items(today):
        key = f"low:item:{item.pk}"
        keep.add(key)
        detail = (
            f"{item.display_name}: {fmt_qty(item.usable)} {item.unit} usable, "
            f"{fmt_qty(item.on_order)} on order, reorder point {fmt_qty(item.reorder_point)}"
        )
        episode = _open(AlertKind.LOW_STOCK, key, detail, item=item)
        if episode:
            run.opened.append(episode)
    run.closed += _close_except([AlertKind.LOW_STOCK], keep)


def _expiring(run: AlertRun, today: date) -> None:
    """One open episode per item, for the tightest window its soonest usable lot falls in."""
    horizon = today + timedelta(days=max(EXPIRY_WINDOWS))
    soonest = (
        Item.objects.filter(
            lots__status=LotStatus.AVAILABLE,
            lots__quantity__gt=0,
            lots__expiry_date__gte=today,
            lots__expiry_date__lte=horizon,
        )
        .annotate(soonest=Min("lots__expiry_date"))
        .order_by("id")
    )
    keep = set()
    for item in soonest:
        days_left = (item.soonest - today).days
        window = next(w for w in EXPIRY_WINDOWS if days_left <= w)
        key = f"exp{window}:item:{item.pk}"
        keep.add(key)
        detail = f"{item.display_name}: a lot expires on {item.soonest:%a %-d %b %Y} (within {window} days)"
        episode = _open(AlertKind.EXPIRING, key, detail, item=item, window_days=window)
        if episode:
            run.opened.append(episode)
    run.closed += _close_except([AlertKind.EXPIRING], keep)


def _maintenance(run: AlertRun, today: date) -> None:
    schedules = (
        MaintenanceSchedule.objects.filter(
            is_active=True, next_due_on__lte=today + timedelta(days=MAINTENANCE_NOTICE_DAYS)
        )
        .exclude(equipment__status=EquipmentStatus.RETIRED)
        .select_related("equipment")
    )
    keep = set()
    for schedule in schedules:
        overdue = schedule.next_due_on < today
        kind = AlertKind.MAINTENANCE_OVERDUE if overdue else AlertKind.MAINTENANCE_DUE
        key = f"{'overdue' if overdue else 'due'}:{schedule.pk}:{schedule.next_due_on:%Y%m%d}"
        keep.add(key)
        when = "was due" if overdue else "is due"
        detail = f"{schedule.get_kind_display()} of {schedule.equipment} {when} on {schedule.next_due_on:%a %-d %b %Y}"
        episode = _open(kind, key, detail, schedule=schedule)
        if episode:
            run.opened.append(episode)
    run.closed += _close_except([AlertKind.MAINTENANCE_DUE, AlertKind.MAINTENANCE_OVERDUE], keep)


def _notify_managers(episodes: list[AlertEpisode]) -> None:
    if not episodes:
        return
    managers = list(User.objects.filter(role=Role.INVENTORY_MANAGER, is_active=True))
    by_kind: dict[str, list[AlertEpisode]] = {}
    for episode in episodes:
        by_kind.setdefault(episode.kind, []).append(episode)
    urls = {
        AlertKind.LOW_STOCK: reverse("inventory:low_stock"),
        AlertKind.EXPIRING: reverse("inventory:expiry"),
        AlertKind.MAINTENANCE_DUE: reverse("inventory:equipment_calendar"),
        AlertKind.MAINTENANCE_OVERDUE: reverse("inventory:equipment_calendar"),
    }
    for kind, group in by_kind.items():
        label = AlertKind(kind).label
        title = (
            f"{label}: {group[0].detail.split(':')[0]}"
            if len(group) == 1
            else f"{label}: {len(group)} items"
        )
        body = "\n".join(f"• {e.detail}" for e in group)
        for manager in managers:
            notify(user=manager, title=title, body=body, url=urls[kind], category="inventory")


def alerts_run(*, today: date | None = None) -> AlertRun:
    """Quarantine expired lots, then open/close episodes and notify managers of new ones."""
    today = today or timezone.localdate()
    run = AlertRun()
    run.quarantined = lots_quarantine_expired(today=today)
    with transaction.atomic():
        _low_stock(run, today)
        _expiring(run, today)
        _maintenance(run, today)
        _notify_managers(run.opened)
    return run


def stock_alerts_run(*, today: date | None = None) -> AlertRun:
    """Just low stock (cheap; run after dispensing-heavy hours)."""
    today = today or timezone.localdate()
    run = AlertRun()
    with transaction.atomic():
        _low_stock(run, today)
        _notify_managers(run.opened)
    return run
