"""Booking, rescheduling and cancelling. Double booking is refused by the database
(exclusion constraints); ``appointment_book`` and ``appointment_reschedule`` turn that
refusal into ``SlotTaken`` ("that slot was just taken") with the next free slots, so a race
never surfaces as a server error."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from appointments import conf
from appointments.models import (
    TRANSITIONS,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    BookingSource,
    ProviderProfile,
    ReminderClaim,
)
from appointments.services.common import (
    _after_commit_email,
    _after_commit_slot_freed,
    _is_staff,
    _notify_patient,
    _record,
    _when,
)
from appointments.slots import SlotTaken, free_slots, next_free_slots, validate_slot

PROVIDER_CONSTRAINT = "appointments_no_provider_overlap"


PATIENT_CONSTRAINT = "appointments_no_patient_overlap"


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def _raise_integrity(exc: IntegrityError, appointment_type, provider, start, patient_id, by_staff):
    name = _constraint_name(exc)
    if name == PROVIDER_CONSTRAINT:
        raise SlotTaken(
            next_slots=next_free_slots(
                appointment_type,
                provider,
                start,
                patient_id=patient_id,
                enforce_lead_time=not by_staff,
            )
        ) from exc
    if name == PATIENT_CONSTRAINT:
        raise ValidationError("The patient already has another appointment at that time.") from exc
    raise exc


def _require_offered_slot(slot: dict, *, past_tolerance: timedelta = timedelta(0)) -> None:
    """Refuse a start that is not one of the slots ``free_slots`` offers that day (a patient
    may only pick an offered slot). ``slot`` holds ``validate_slot``'s arguments. When it
    was taken meanwhile by a racing booking, ``validate_slot`` says so, with alternatives."""

    day = timezone.localtime(slot["start"], conf.clinic_tz()).date()
    offered = free_slots(
        appointment_type=slot["appointment_type"],
        provider=slot["provider"],
        date_from=day,
        date_to=day,
        patient_id=slot["patient_id"],
        exclude_appointment_id=slot.get("exclude_appointment_id"),
    )
    if slot["start"] not in {s.start for s in offered}:
        validate_slot(**slot, past_tolerance=past_tolerance)
        raise ValidationError(
            "That time is not one of the offered slots. Please pick one from the list."
        )


def appointment_book(
    *,
    actor: User | None,
    patient,
    appointment_type: AppointmentType,
    provider: ProviderProfile,
    start: datetime,
    reason: str = "",
    source: str = BookingSource.ONLINE,
    offered_slots_only: bool = False,
) -> Appointment:
    """Book ``patient`` with ``provider`` at ``start``.

    Patients are held to the type's lead time, horizon and self-booking flag (and, with
    ``offered_slots_only``, to the exact slots offered to them); staff only to the horizon.
    Raises ``ValidationError`` for bad input and ``SlotTaken`` when the time is gone,
    including when another booking won a race for it. Nothing is saved on failure.
    """
    by_staff = _is_staff(actor) and source != BookingSource.ONLINE
    tolerance = (
        timedelta(minutes=conf.get("APPOINTMENT_SLOT_GRID_MINUTES"))
        if source == BookingSource.WALK_IN
        else timedelta(0)
    )
    slot = {
        "appointment_type": appointment_type,
        "provider": provider,
        "start": start,
        "patient_id": patient.pk,
        "by_staff": by_staff,
    }
    end = validate_slot(**slot, past_tolerance=tolerance)
    if offered_slots_only:
        _require_offered_slot(slot, past_tolerance=tolerance)
    try:
        with transaction.atomic():
            # The patient's own bookings (online, or accepting a waitlist offer) are capped;
            # staff booking for a patient is not.
            if source == BookingSource.ONLINE or (
                source == BookingSource.WAITLIST and not by_staff
            ):
                _hold_booking_cap(patient)
            appointment = Appointment.objects.create(
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                start=start,
                end=end,
                end_with_buffer=end + timedelta(minutes=appointment_type.buffer_minutes),
                reason=(reason or "").strip()[:1000],
                source=source,
                booked_by=actor if getattr(actor, "is_authenticated", False) else None,
                status=AppointmentStatus.CHECKED_IN
                if source == BookingSource.WALK_IN
                else AppointmentStatus.BOOKED,
                checked_in_at=timezone.now() if source == BookingSource.WALK_IN else None,
            )
            _record(
                appointment,
                actor=actor,
                from_status="",
                note=f"Booked ({appointment.get_source_display()})",
            )
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                obj=appointment,
                patient_id=patient.pk,
                detail={
                    "start": start.isoformat(),
                    "provider": provider.pk,
                    "type": appointment_type.slug,
                    "source": source,
                },
            )
            _notify_patient(
                appointment,
                f"Appointment booked: {appointment_type.name}",
                f"{_when(start)} with {provider.display_name}.",
            )
            if source != BookingSource.WALK_IN:
                _after_commit_email(appointment, "booked")
    except IntegrityError as exc:
        _raise_integrity(exc, appointment_type, provider, start, patient.pk, by_staff)
    return appointment


WALK_IN_WINDOW = timedelta(minutes=60)


class BookingCapReached(ValidationError):
    """The patient already holds the most upcoming appointments online booking allows."""

    def __init__(self, cap: int):
        super().__init__(
            f"You already have {cap} upcoming appointments, the most you can book online. "
            "Cancel one, or call the clinic.",
            code="booking_cap",
        )


def _hold_booking_cap(patient) -> None:
    """Refuse a patient's own booking past ``MAX_UPCOMING_APPOINTMENTS_PER_PATIENT``.

    The patient's row is locked first, so two bookings submitted at once by the same
    patient are counted one after the other and cannot both slip under the cap.
    """
    cap = settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT
    list(type(patient).objects.select_for_update().filter(pk=patient.pk).values_list("pk"))
    upcoming = Appointment.objects.active().filter(patient=patient, start__gte=timezone.now())
    if upcoming.count() >= cap:
        raise BookingCapReached(cap)


@transaction.atomic
def appointment_walk_in(
    *,
    actor: User | None,
    patient,
    appointment_type: AppointmentType,
    provider: ProviderProfile | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Book a walk-in into the first free slot that starts within ``WALK_IN_WINDOW``, with
    ``provider`` or whoever is free; the appointment starts checked in (``BookingSource
    .WALK_IN``). The search starts five minutes back so someone arriving just after a slot
    began still gets it. Raises ``ValidationError`` when nobody is free within the window and
    ``SlotTaken`` when a racing booking takes the slot first; nothing is saved then."""
    now = now or timezone.now()
    slots = next_free_slots(
        appointment_type,
        provider,
        now - timedelta(minutes=5),
        enforce_lead_time=False,
        patient_id=patient.pk,
        count=1,
        days=0,
    )
    if not slots or slots[0].start > now + WALK_IN_WINDOW:
        raise ValidationError(
            "No provider is free for this within the next hour. Book a later slot instead."
        )
    return appointment_book(
        actor=actor,
        patient=patient,
        appointment_type=appointment_type,
        provider=ProviderProfile.objects.select_related("user").get(pk=slots[0].provider_id),
        start=slots[0].start,
        reason=reason,
        source=BookingSource.WALK_IN,
    )


def _check_cutoff(actor: User | None, appointment: Appointment, verb: str) -> None:
    if _is_staff(actor):
        return  # staff may override the cut-off
    cutoff = conf.get("APPOINTMENT_CANCEL_CUTOFF_MINUTES")
    if appointment.start - timezone.now() < timedelta(minutes=cutoff):
        raise ValidationError(
            f"Appointments can't be {verb} online less than {cutoff / 60:g} hours before they start. "
            "Please call the clinic."
        )


def _lock(appointment: Appointment) -> Appointment:
    return Appointment.objects.select_for_update().with_related().get(pk=appointment.pk)


def appointment_reschedule(
    *,
    actor: User | None,
    appointment: Appointment,
    start: datetime,
    provider: ProviderProfile | None = None,
    offered_slots_only: bool = False,
) -> Appointment:
    """Move an upcoming appointment to ``start`` (and optionally another provider).

    Patients are held to the cut-off, lead time and offered slots; staff may override the
    cut-off. Raises ``SlotTaken`` with alternatives when the new time is taken.
    """
    by_staff = _is_staff(actor)
    try:
        with transaction.atomic():
            locked = _lock(appointment)
            if locked.status not in UPCOMING_STATUSES:
                raise ValidationError("Only booked or confirmed appointments can be rescheduled.")
            _check_cutoff(actor, locked, "rescheduled")
            provider = provider or locked.provider
            appointment_type = locked.appointment_type
            slot = {
                "appointment_type": appointment_type,
                "provider": provider,
                "start": start,
                "patient_id": locked.patient_id,
                "by_staff": by_staff,
                "exclude_appointment_id": locked.pk,
            }
            end = validate_slot(**slot)
            if offered_slots_only:
                _require_offered_slot(slot)
            old = {
                "start": locked.start,
                "provider": locked.provider_id,
                "end_with_buffer": locked.end_with_buffer,
            }
            locked.provider = provider
            locked.start, locked.end = start, end
            locked.end_with_buffer = end + timedelta(minutes=appointment_type.buffer_minutes)
            before = locked.status
            locked.status = AppointmentStatus.BOOKED
            locked.sequence += 1
            # The reschedule email tells the patient the new time; reminders are timed from it.
            locked.rescheduled_at = timezone.now()
            locked.save()
            # Reminders go out again for the new time.
            ReminderClaim.objects.filter(appointment=locked).delete()
            _record(
                locked,
                actor=actor,
                from_status=before,
                note=f"Rescheduled from {_when(old['start'])} to {_when(start)}",
                detail={
                    "from": old["start"].isoformat(),
                    "to": start.isoformat(),
                    "from_provider": old["provider"],
                    "to_provider": provider.pk,
                },
            )
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=locked,
                patient_id=locked.patient_id,
                detail={"rescheduled_from": old["start"].isoformat(), "to": start.isoformat()},
            )
            _notify_patient(
                locked,
                f"Appointment moved: {appointment_type.name}",
                f"Now {_when(start)} with {provider.display_name}.",
            )
            _after_commit_email(locked, "rescheduled")
            _after_commit_slot_freed(old["provider"], old["start"], old["end_with_buffer"])
    except IntegrityError as exc:
        _raise_integrity(
            exc,
            appointment.appointment_type,
            provider or appointment.provider,
            start,
            appointment.patient_id,
            by_staff,
        )
    return locked


def appointment_cancel(
    *, actor: User | None, appointment: Appointment, reason: str = "", via_link: bool = False
) -> Appointment:
    """Cancel an appointment that has not started; records who and why, emails the patient,
    and offers the freed slot to the waitlist after commit."""
    with transaction.atomic():
        locked = _lock(appointment)
        if AppointmentStatus.CANCELLED not in TRANSITIONS[locked.status]:
            raise ValidationError(
                f"A {locked.get_status_display().lower()} appointment can't be cancelled."
            )
        _check_cutoff(None if via_link else actor, locked, "cancelled")
        before = locked.status
        locked.status = AppointmentStatus.CANCELLED
        locked.cancelled_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.cancel_reason = (reason or "").strip()[:300] or (
            "Cancelled from the email link" if via_link else ""
        )
        locked.sequence += 1
        locked.save()
        _record(locked, actor=actor, from_status=before, note=locked.cancel_reason or "Cancelled")
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=locked,
            patient_id=locked.patient_id,
            detail={"status": "cancelled", "reason": locked.cancel_reason, "via_link": via_link},
        )
        _notify_patient(
            locked,
            f"Appointment cancelled: {locked.appointment_type.name}",
            f"{_when(locked.start)} with {locked.provider.display_name} is cancelled.",
        )
        _after_commit_email(locked, "cancelled")
        _after_commit_slot_freed(locked.provider_id, locked.start, locked.end_with_buffer)
    return locked
