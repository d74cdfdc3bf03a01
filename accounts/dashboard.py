"""Accounts' cards on the home dashboard."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Notification, User
from accounts.roles import user_has_perm
from uscpis.registry import Card, UserCount, clinic_figure

UNREAD = UserCount(
    "accounts.unread_notifications",
    Notification,
    lambda user_id: Notification.objects.filter(user_id=user_id, read_at__isnull=True),
    lambda user: (user.pk,),
)


def cards(user) -> list[Card]:
    result = []
    unread = UNREAD.value(user)
    result.append(
        Card(
            "Unread notifications",
            unread,
            url=reverse("accounts:notifications"),
            tone="warn" if unread else "good",
        )
    )
    if user_has_perm(user, "accounts.manage_users"):
        active = clinic_figure(
            "accounts.active_users", lambda: User.objects.filter(is_active=True).count()
        )
        result.append(Card("Active users", active, url=reverse("accounts:user_list")))
    if user_has_perm(user, "accounts.view_audit"):
        denied = clinic_figure(
            "accounts.refusals_24h",
            lambda: AuditEvent.objects.filter(
                allowed=False, created_at__gte=timezone.now() - timedelta(hours=24)
            ).count(),
        )
        result.append(
            Card(
                "Refusals, last 24 h",
                denied,
                detail="failed sign-ins and denied pages",
                url=reverse("accounts:audit_list") + "?action=denied",
                tone="bad" if denied > 20 else "neutral",
            )
        )
    return result
