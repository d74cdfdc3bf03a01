"""Patients' background jobs: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from uscpis.celery import RETRY_POLICY


@shared_task(**RETRY_POLICY)
def send_verification_email(*, user_id: int, outbox_id: int | None = None) -> bool:
    """A sign-up's confirmation email (once per outbox message)."""
    from patients.services.self_registration import verification_email_send

    return verification_email_send(user_id=user_id, outbox_id=outbox_id)
