"""Appointment background jobs: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from uscpis.celery import RETRY_POLICY


@shared_task(**RETRY_POLICY)
def send_appointment_email(*, appointment_id: int, kind: str, outbox_id: int | None = None) -> int:
    """Confirmation / reschedule / cancellation email with an .ics attachment; once per
    outbox message (claimed before sending, released if sending fails so a retry sends)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts import outbox

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.emails import send_appointment_email as send

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.models import Appointment

    appointment = (
        Appointment.objects.with_related()
        .select_related("patient__user")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None or not outbox.claim(outbox_id):
        return 0
    try:
        return send(appointment, kind)
    except Exception:
        outbox.release(outbox_id)
        raise


@shared_task(**RETRY_POLICY)
def send_reminder(*, appointment_id: int, offset_minutes: int) -> bool:
    """One reminder, sent exactly once (claimed before sending; see ``reminder_send``).

    A redelivery that finds the claim still fresh returns False and is acked; if that claim's
    worker died, the next beat run lists it again once it is stale and this task takes it over.
    """
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.services.reminders import reminder_send

    return reminder_send(appointment_id=appointment_id, offset_minutes=offset_minutes)


@shared_task
def send_due_reminders() -> int:
    """Beat: enqueue every reminder whose time has come (see ``reminders_due``): at most one per
    appointment, plus any whose worker died mid-send. Running it twice sends nothing twice.
    Queued through the outbox: with the broker down they wait and none is lost."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from accounts import outbox

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.selectors import reminders_due

    due = reminders_due()
    return outbox.enqueue_many(
        "appointments.tasks.send_reminder",
        [{"appointment_id": pk, "offset_minutes": offset} for pk, offset in due],
    )


@shared_task
def mark_no_shows() -> int:
    """Beat: appointments not checked in after the grace period become no-shows."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.services.lifecycle import appointments_mark_no_shows

    return appointments_mark_no_shows()


@shared_task(**RETRY_POLICY)
def offer_freed_slot(*, provider_id: int, start: str) -> bool:
    """Offer a freed slot to the next waiting patient it fits."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.services.waitlist import waitlist_offer_slot

    when = parse_datetime(start)
    return bool(when and waitlist_offer_slot(provider_id=provider_id, start=when))


@shared_task
def expire_waitlist_offers() -> int:
    """Beat: lapse offers past their hold and pass each slot to the next patient."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from appointments.services.waitlist import waitlist_expire_offers

    return waitlist_expire_offers()
