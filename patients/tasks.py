"""Patients' background jobs: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from uscpis.celery import RETRY_POLICY


@shared_task(**RETRY_POLICY)
def send_verification_email(*, user_id: int, outbox_id: int | None = None) -> bool:
    """A sign-up's confirmation email (once per outbox message)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from patients.services.self_registration import verification_email_send

    return verification_email_send(user_id=user_id, outbox_id=outbox_id)


@shared_task(
    autoretry_for=(Exception,), retry_backoff=30, retry_kwargs={"max_retries": 5}, acks_late=True
)
def send_account_exists_email(*, user_id: int, outbox_id: int | None = None) -> bool:
    """Tell an account's owner about a sign-up attempt with their email (once)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from patients.services.self_registration import account_exists_email_send

    return account_exists_email_send(user_id=user_id, outbox_id=outbox_id)


@shared_task(
    autoretry_for=(Exception,), retry_backoff=30, retry_kwargs={"max_retries": 5}, acks_late=True
)
def send_record_access_changed_email(
    *, patient_id: int, account_email: str, linked: bool, outbox_id: int | None = None
) -> bool:
    """Tell a record's own email that a portal account was linked or unlinked (once)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from patients.services.patient_accounts import record_access_changed_email_send

    return record_access_changed_email_send(
        patient_id=patient_id, account_email=account_email, linked=linked, outbox_id=outbox_id
    )
