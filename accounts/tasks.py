"""Accounts' background jobs: thin wrappers that load by id and call a service."""

from celery import shared_task
from django.core import management

from uscpis.celery import RETRY_POLICY


@shared_task(**RETRY_POLICY)
def send_notification_email(*, notification_id: int) -> bool:
    """Email one in-app notification (idempotent: claimed before sending)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts.services import notification_email_send

    return notification_email_send(notification_id=notification_id)


@shared_task(**RETRY_POLICY)
def send_invitation_email(
    *, user_id: int, actor_id: int | None = None, outbox_id: int | None = None
) -> bool:
    """Email an invitation (idempotent: claims its outbox message before sending)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts.services import invitation_email_send

    return invitation_email_send(user_id=user_id, actor_id=actor_id, outbox_id=outbox_id)


@shared_task
def clear_expired_sessions() -> None:
    """Delete expired sessions (Django's ``clearsessions``); safe to run any number of times."""
    management.call_command("clearsessions")


@shared_task
def prune_api_records() -> dict:
    """Delete expired API tokens and Idempotency-Key records older than a day (a retry comes
    within minutes); safe to run any number of times."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts.services import api_records_prune

    return api_records_prune()


@shared_task
def relay_outbox() -> int:
    """Publish follow-up work waiting in the outbox (every minute); see accounts/outbox.py."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts.outbox import purge_sent, relay

    published = relay()
    purge_sent()
    return published


@shared_task
def seal_audit_trail() -> int:
    """Chain the audit events written since the last run (``accounts.audit.audit_seal``).

    Safe to run any number of times and concurrently (one sealer at a time; a second one
    returns at once). Waits a few seconds at most for open writers; what it cannot seal
    yet, the next run does. Returns the count sealed.
    """
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts.audit import audit_seal

    return audit_seal(wait_seconds=5.0).sealed
