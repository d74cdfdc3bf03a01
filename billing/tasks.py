"""Billing background jobs: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task

from uscpis.celery import RETRY_POLICY


@shared_task
def send_monthly_statements() -> int:
    """Monthly (beat): queue last month's statement for every patient with a balance,
    through the outbox (a broker outage delays the statements and loses none)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts import outbox

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from billing.services.statements import patients_due_statement, previous_month

    month = previous_month()
    ids = patients_due_statement(month)
    return outbox.enqueue_many(
        "billing.tasks.send_statement",
        [{"patient_id": pk, "month": month.isoformat()} for pk in ids],
    )


@shared_task(**RETRY_POLICY)
def send_statement(*, patient_id: int, month: str) -> bool:
    """One statement email, sent once per patient and month (claimed before sending)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from datetime import date

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from billing.services.statements import statement_send

    return statement_send(patient_id=patient_id, month=date.fromisoformat(month))
