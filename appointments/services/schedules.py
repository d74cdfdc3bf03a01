"""Provider schedules: provider profiles, weekly availability blocks, exceptions (leave,
extra hours) and appointment types. Each change runs in a transaction and is audited on the
provider (or the type), as the schedule pages always were."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from appointments import conf
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WaitlistEntry,
    WaitlistStatus,
    WeeklyAvailability,
)
from appointments.selectors import appointments_affected_by_time_off, providers_without_profile
from appointments.services.booking import appointment_cancel, appointment_reschedule
from appointments.slots import SlotTaken

REBOOK_WINDOW_DAYS = 14  # a patient whose appointment time off cancels waits this long


def _schedule_changed(*, actor: User, provider: ProviderProfile, change: str) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=provider,
        detail={"schedule": change},
    )


@transaction.atomic
def provider_profiles_create_missing(*, actor: User) -> list[ProviderProfile]:
    """Give every active provider-role user without one a provider profile; returns the new
    profiles. Running it twice creates nothing the second time."""
    created = []
    for user in providers_without_profile().select_for_update(of=("self",)):
        profile = ProviderProfile.objects.create(user=user)
        audit_record(actor=actor, action=AuditAction.CREATE, obj=profile)
        created.append(profile)
    return created


def _entry_add(*, actor: User, provider: ProviderProfile, entry, change: str):
    entry.provider = provider
    entry.save()
    _schedule_changed(actor=actor, provider=provider, change=change)
    return entry


def _entry_delete(model, *, actor: User, provider: ProviderProfile, pk: int, change: str):
    # Filtering on the provider too: another provider's id deletes nothing.
    model.objects.filter(provider=provider, pk=pk).delete()
    _schedule_changed(actor=actor, provider=provider, change=change)


@transaction.atomic
def weekly_block_add(
    *, actor: User, provider: ProviderProfile, block: WeeklyAvailability
) -> WeeklyAvailability:
    """Add a validated (unsaved) weekly availability block to the provider's schedule."""
    return _entry_add(actor=actor, provider=provider, entry=block, change="block")


@transaction.atomic
def weekly_block_delete(*, actor: User, provider: ProviderProfile, block_id: int) -> None:
    """Remove one of the provider's weekly blocks (another provider's id removes nothing)."""
    _entry_delete(
        WeeklyAvailability,
        actor=actor,
        provider=provider,
        pk=block_id,
        change="delete_block",
    )


@transaction.atomic
def availability_exception_add(
    *,
    actor: User,
    provider: ProviderProfile,
    exception: AvailabilityException,
    cancel_affected: bool = False,
    moves: dict[int, datetime] | None = None,
    reviewed: set[int] | None = None,
) -> AvailabilityException:
    """Add a validated (unsaved) exception (time off or extra hours) to the schedule.

    Time off over booked appointments is refused (``ValidationError``) unless the change is
    confirmed (``cancel_affected``). Then each affected appointment whose id is in
    ``moves`` is moved to that start (same provider and type) through
    ``appointment_reschedule``, after the time off is in place: the slot is validated
    against the new schedule, the exclusion constraint guards double booking, and the
    patient is notified in the portal and by email (through the outbox) of the new time.
    Every other affected appointment is cancelled through ``appointment_cancel`` (the
    patient is notified, the freed slot goes to the waitlist) with a reason carrying a link
    to book again, and the patient is put on the waitlist for the same type over the next
    two weeks. All in one transaction: a move that cannot be made (the slot was taken
    meanwhile, two moved to one time) raises ``ValidationError`` naming it, and nothing
    changes; so does ``reviewed`` (the ids the staff member was shown) no longer matching
    the appointments found under lock.
    """
    affected = list(
        appointments_affected_by_time_off(
            provider=provider,
            kind=exception.kind,
            starts_at=exception.starts_at,
            ends_at=exception.ends_at,
        ).select_for_update(of=("self",))
    )
    if affected and not cancel_affected:
        raise ValidationError(
            f"{len(affected)} booked appointment(s) fall in this time. Review them and confirm "
            "to move or cancel them (the patients are told)."
        )
    if reviewed is not None and {a.pk for a in affected} != reviewed:
        # Booked (or cancelled) since the list was shown: nothing happens to it unseen.
        raise ValidationError(
            "The appointments in this time changed since they were listed; review them again.",
            code="affected_changed",
        )
    moves = moves or {}
    exception.created_by = actor
    _entry_add(actor=actor, provider=provider, entry=exception, change="exception")
    rebook = f"{settings.SITE_URL}{reverse('appointments:book')}"
    label = exception.get_kind_display().lower()
    for appointment in affected:
        if appointment.pk in moves:
            _move_affected(actor=actor, appointment=appointment, start=moves[appointment.pk])
            continue
        appointment_cancel(
            actor=actor,
            appointment=appointment,
            reason=(
                f"The clinic had to cancel: {label} for {appointment.provider.display_name}. "
                f"Please book another time: {rebook} (you are on the waitlist too)."
            ),
        )
        _waitlist_freed_patient(appointment)
    return exception


def _move_affected(*, actor: User, appointment: Appointment, start: datetime) -> None:
    when = timezone.localtime(appointment.start, conf.clinic_tz())
    who = f"{appointment.patient.full_name}'s {when:%-I:%M %p} appointment"
    try:
        appointment_reschedule(actor=actor, appointment=appointment, start=start)
    except SlotTaken as exc:
        raise ValidationError(
            f"Could not move {who}: the new time was just taken. Nothing was changed; "
            "choose again.",
            code="move_taken",
        ) from exc
    except ValidationError as exc:
        raise ValidationError(
            f"Could not move {who}: {' '.join(exc.messages)} Nothing was changed; choose again.",
            code="move_refused",
        ) from exc


def _waitlist_freed_patient(appointment: Appointment) -> None:
    start = max(timezone.localdate(), timezone.localtime(appointment.start).date())
    if WaitlistEntry.objects.filter(
        patient=appointment.patient,
        appointment_type=appointment.appointment_type,
        status=WaitlistStatus.WAITING,
    ).exists():
        return
    WaitlistEntry.objects.create(
        patient=appointment.patient,
        appointment_type=appointment.appointment_type,
        date_from=start,
        date_to=start + timedelta(days=REBOOK_WINDOW_DAYS),
    )


@transaction.atomic
def availability_exception_delete(
    *, actor: User, provider: ProviderProfile, exception_id: int
) -> None:
    """Remove one of the provider's exceptions (another provider's id removes nothing)."""
    _entry_delete(
        AvailabilityException,
        actor=actor,
        provider=provider,
        pk=exception_id,
        change="delete_exception",
    )


@transaction.atomic
def appointment_type_save(*, actor: User, appointment_type: AppointmentType) -> AppointmentType:
    """Create or update an appointment type validated by its form."""
    creating = appointment_type.pk is None
    appointment_type.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=appointment_type,
    )
    return appointment_type
