"""Writes for appointments. Each runs in a transaction, validates, records history and audit.

Double booking is refused by the database (exclusion constraints); ``appointment_book`` and
``appointment_reschedule`` turn that refusal into ``SlotTaken`` ("that slot was just taken")
with the next free slots, so a race never surfaces as a server error.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.roles import user_has_perm
from appointments import conf
from appointments.models import (
    ACTIVE_STATUSES,
    TRANSITIONS,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    AppointmentType,
    BookingSource,
    OfferStatus,
    PatientCalendarFeed,
    ProviderProfile,
    ReminderClaim,
    SignedLinkUse,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    new_token,
)
from appointments.slots import SlotTaken, next_free_slots, validate_slot

logger = logging.getLogger(__name__)

PROVIDER_CONSTRAINT = "appointments_no_provider_overlap"
PATIENT_CONSTRAINT = "appointments_no_patient_overlap"
LINK_SALT = "appointments.email-link"
STALE_CLAIM = timedelta(minutes=15)


def _is_staff(actor) -> bool:
    return actor is not None and user_has_perm(actor, "appointments.book_for_patient")


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def _record(
    appointment: Appointment, *, actor, from_status: str, note: str = "", detail=None
) -> None:
    AppointmentEvent.objects.create(
        appointment=appointment,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        from_status=from_status,
        to_status=appointment.status,
        note=note[:300],
        detail=detail or {},
    )


def _after_commit_email(appointment: Appointment, kind: str) -> None:
    from appointments.tasks import send_appointment_email

    appointment_id = appointment.pk
    transaction.on_commit(
        lambda: send_appointment_email.delay(appointment_id=appointment_id, kind=kind)
    )


def _notify_patient(appointment: Appointment, title: str, body: str = "") -> None:
    user = appointment.patient.user
    if user is None or not user.is_active:
        return
    from accounts.services import notify

    # The confirmation email (with its .ics) is sent separately; this is the in-app copy.
    notify(
        user=user,
        title=title,
        body=body,
        url=reverse("appointments:my_detail", args=[appointment.pk]),
        category="appointments",
        email=False,
    )


def _when(dt: datetime) -> str:
    return timezone.localtime(dt, conf.clinic_tz()).strftime("%a %-d %b %Y, %-I:%M %p")


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


# --- Booking -----------------------------------------------------------------------------


def _require_offered_slot(slot: dict, *, past_tolerance: timedelta = timedelta(0)) -> None:
    """Refuse a start that is not one of the slots ``free_slots`` offers that day (a patient
    may only pick an offered slot). ``slot`` holds ``validate_slot``'s arguments. When it
    was taken meanwhile by a racing booking, ``validate_slot`` says so, with alternatives."""
    from appointments.slots import free_slots

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
    actor,
    patient,
    appointment_type: AppointmentType,
    provider: ProviderProfile,
    start: datetime,
    reason: str = "",
    source: str = BookingSource.ONLINE,
    request=None,
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
                action="create",
                obj=appointment,
                patient_id=patient.pk,
                request=request,
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


def _check_cutoff(actor, appointment: Appointment, verb: str) -> None:
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
    actor,
    appointment: Appointment,
    start: datetime,
    provider: ProviderProfile | None = None,
    request=None,
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
                action="update",
                obj=locked,
                patient_id=locked.patient_id,
                request=request,
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
    *, actor, appointment: Appointment, reason: str = "", request=None, via_link: bool = False
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
            action="update",
            obj=locked,
            patient_id=locked.patient_id,
            request=request,
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


def _open_visit(appointment: Appointment, actor) -> None:
    """Open (or find) the clinical visit for a completed appointment and link it.

    The visit belongs to the appointment's provider, whoever marks it completed (the front
    desk often does); none is opened when the provider's role doesn't write that kind of
    visit (e.g. a nurse's appointment of a dental type).
    """
    from django.core.exceptions import PermissionDenied

    try:
        from patients.services import visit_start
    except ImportError:  # the records app is optional for scheduling
        return
    try:
        visit = visit_start(
            actor=actor,
            patient=appointment.patient,
            kind=appointment.appointment_type.visit_kind,
            appointment_ref=f"appointment:{appointment.pk}",
            provider=appointment.provider.user,
        )
    except PermissionDenied:
        return
    appointment.visit = visit
    appointment.visit_ref = str(visit.pk)


def appointment_transition(
    *, actor, appointment: Appointment, to_status: str, note: str = "", request=None
) -> Appointment:
    """Move an appointment along its lifecycle (confirm, check in, start, complete, no-show).

    Refuses moves the lifecycle doesn't allow. Completing opens the linked visit record.
    Cancellation goes through ``appointment_cancel``.
    """
    if to_status == AppointmentStatus.CANCELLED:
        return appointment_cancel(
            actor=actor, appointment=appointment, reason=note, request=request
        )
    with transaction.atomic():
        locked = _lock(appointment)
        if to_status not in TRANSITIONS.get(locked.status, ()):
            raise ValidationError(
                f"A {locked.get_status_display().lower()} appointment can't be marked "
                f"{AppointmentStatus(to_status).label.lower() if to_status in AppointmentStatus.values else to_status}."
            )
        now = timezone.now()
        if to_status == AppointmentStatus.NO_SHOW and locked.start > now:
            raise ValidationError("An appointment can't be a no-show before it starts.")
        before = locked.status
        locked.status = to_status
        if to_status == AppointmentStatus.CHECKED_IN:
            locked.checked_in_at = now
        elif to_status == AppointmentStatus.IN_CONSULTATION:
            locked.consultation_started_at = now
        elif to_status == AppointmentStatus.COMPLETED:
            locked.completed_at = now
            if locked.consultation_started_at is None:
                locked.consultation_started_at = now
            _open_visit(locked, actor)
        if to_status in (AppointmentStatus.NO_SHOW,):
            locked.sequence += 1
        locked.save()
        _record(locked, actor=actor, from_status=before, note=note)
        audit_record(
            actor=actor,
            action="update",
            obj=locked,
            patient_id=locked.patient_id,
            request=request,
            detail={"status": {"from": before, "to": to_status}},
        )
    return locked


def appointments_mark_no_shows(*, now: datetime | None = None) -> int:
    """Mark booked/confirmed appointments not checked in ``grace`` minutes after their start
    as no-shows (system actor). Safe to run any number of times."""
    now = now or timezone.now()
    grace = timedelta(minutes=conf.get("APPOINTMENT_NO_SHOW_GRACE_MINUTES"))
    ids = list(
        Appointment.objects.filter(
            status__in=UPCOMING_STATUSES, start__lt=now - grace, start__gte=now - timedelta(days=30)
        ).values_list("pk", flat=True)[:500]
    )
    marked = 0
    for pk in ids:
        with transaction.atomic():
            appt = (
                Appointment.objects.select_for_update()
                .filter(pk=pk, status__in=UPCOMING_STATUSES)
                .first()
            )
            if appt is None:
                continue
            before = appt.status
            appt.status = AppointmentStatus.NO_SHOW
            appt.sequence += 1
            appt.save(update_fields=["status", "sequence", "updated_at"])
            _record(
                appt,
                actor=None,
                from_status=before,
                note=f"Not checked in {grace.seconds // 60} min after start",
            )
            audit_record(
                action="update",
                obj=appt,
                patient_id=appt.patient_id,
                actor_email="system:no-show",
                detail={"status": {"from": before, "to": "no_show"}},
            )
            marked += 1
    return marked


# --- Signed email links --------------------------------------------------------------------


def link_token(appointment: Appointment, action: str) -> str:
    return signing.dumps(
        {"a": appointment.pk, "x": action, "j": secrets.token_urlsafe(12)}, salt=LINK_SALT
    )


def link_url(appointment: Appointment, action: str) -> str:
    from django.conf import settings

    return settings.SITE_URL + reverse(
        "appointments:email_link", args=[link_token(appointment, action)]
    )


def link_read(token: str) -> tuple[Appointment, str, str]:
    """Decode a link; raises ``ValidationError`` when it is tampered with or expired."""
    max_age = timedelta(hours=conf.get("APPOINTMENT_LINK_MAX_AGE_HOURS"))
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
        appointment = Appointment.objects.with_related().get(pk=int(data["a"]))
        action, jti = str(data["x"]), str(data["j"])
    except signing.SignatureExpired:
        raise ValidationError(
            "This link has expired. Please sign in to manage your appointment."
        ) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError, Appointment.DoesNotExist):
        raise ValidationError("This link is not valid.") from None
    if action not in ("confirm", "cancel"):
        raise ValidationError("This link is not valid.")
    return appointment, action, jti


def link_use(*, token: str, request=None) -> Appointment:
    """Confirm or cancel from an email link. Each link works once; raises ``ValidationError``."""
    appointment, action, jti = link_read(token)
    with transaction.atomic():
        try:
            with transaction.atomic():
                SignedLinkUse.objects.create(jti=jti, appointment=appointment, action=action)
        except IntegrityError:
            raise ValidationError("This link has already been used.") from None
        if action == "confirm":
            if appointment.status == AppointmentStatus.CONFIRMED:
                return appointment
            if (
                appointment.status != AppointmentStatus.BOOKED
                or appointment.start <= timezone.now()
            ):
                raise ValidationError("This appointment can no longer be confirmed.")
            return appointment_transition(
                actor=None,
                appointment=appointment,
                to_status=AppointmentStatus.CONFIRMED,
                note="Confirmed from the email link",
                request=request,
            )
        return appointment_cancel(
            actor=None, appointment=appointment, request=request, via_link=True
        )


# --- Reminders ------------------------------------------------------------------------------


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _reminder_offsets() -> list[int]:
    return sorted(conf.get("APPOINTMENT_REMINDER_OFFSETS"))


def reminder_offset_due(appointment: Appointment, *, now: datetime) -> int | None:
    """The one reminder offset (minutes) to send for ``appointment`` at ``now``, or None.

    The rules, which ``reminders_due`` applies in SQL too:

    * An offset X applies only if the patient learnt the current time (booked, or last
      rescheduled: ``Appointment.scheduled_at``) more than X before the start; otherwise the
      confirmation (or reschedule) email already served as that reminder.
    * Of the applicable offsets whose time has come (start - now <= X), only the nearest
      (smallest) is sent; the larger ones are superseded and recorded as skipped.
    """
    if appointment.status not in UPCOMING_STATUSES or appointment.start <= now:
        return None
    notice = appointment.start - appointment.scheduled_at
    left = appointment.start - now
    due = [x for x in _reminder_offsets() if left <= _minutes(x) < notice]
    return due[0] if due else None


def reminders_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(appointment id, offset) pairs to send now: at most one per appointment, chosen by the
    rules of ``reminder_offset_due``, and not yet handled.

    Handled means sent, skipped, or claimed within ``STALE_CLAIM``. An unsent claim older than
    that belongs to a worker that died mid-send (with reject-on-worker-lost the redelivered
    task found the claim still fresh and gave up), so it is due again and the task this
    returns takes it over; a fresh claim is left to its worker and never sent twice.
    """
    now = now or timezone.now()
    offsets = _reminder_offsets()
    upcoming = Appointment.objects.filter(status__in=UPCOMING_STATUSES, start__gt=now).annotate(
        told_at=Coalesce("rescheduled_at", "created_at")
    )
    due = []
    for i, offset in enumerate(offsets):
        qs = upcoming.filter(
            start__lte=now + _minutes(offset), start__gt=F("told_at") + _minutes(offset)
        )
        for nearer in offsets[:i]:
            # A nearer reminder applies now: that one goes out instead of this one.
            qs = qs.exclude(
                start__lte=now + _minutes(nearer), start__gt=F("told_at") + _minutes(nearer)
            )
        handled = ReminderClaim.objects.filter(
            appointment=OuterRef("pk"), offset_minutes=offset
        ).filter(
            Q(sent_at__isnull=False)
            | Q(skipped_at__isnull=False)
            | Q(claimed_at__gte=now - STALE_CLAIM)
        )
        ids = qs.exclude(Exists(handled)).values_list("pk", flat=True)[:1000]
        due.extend((pk, offset) for pk in ids)
    return due


def _claim_reminder(appointment_id: int, offset: int, now: datetime) -> bool:
    try:
        with transaction.atomic():
            ReminderClaim.objects.create(
                appointment_id=appointment_id, offset_minutes=offset, claimed_at=now
            )
        return True
    except IntegrityError:
        # Already claimed. Take over only a claim whose worker died before sending.
        return bool(
            ReminderClaim.objects.filter(
                appointment_id=appointment_id,
                offset_minutes=offset,
                sent_at__isnull=True,
                skipped_at__isnull=True,
                claimed_at__lt=now - STALE_CLAIM,
            ).update(claimed_at=now)
        )


def _skip_superseded_reminders(appointment: Appointment, *, nearest: int, now: datetime) -> None:
    """Record the applicable offsets larger than ``nearest`` as skipped: they never go out."""
    notice = appointment.start - appointment.scheduled_at
    larger = [x for x in _reminder_offsets() if x > nearest and _minutes(x) < notice]
    if not larger:
        return
    ReminderClaim.objects.bulk_create(
        [
            ReminderClaim(
                appointment_id=appointment.pk, offset_minutes=x, claimed_at=now, skipped_at=now
            )
            for x in larger
        ],
        ignore_conflicts=True,
    )
    # A fresh unsent claim may be mid-send by another worker: leave it to that worker.
    ReminderClaim.objects.filter(
        appointment_id=appointment.pk,
        offset_minutes__in=larger,
        sent_at__isnull=True,
        skipped_at__isnull=True,
        claimed_at__lt=now - STALE_CLAIM,
    ).update(skipped_at=now)


def reminder_send(*, appointment_id: int, offset_minutes: int, now: datetime | None = None) -> bool:
    """Send one reminder exactly once; returns False when there is nothing (more) to send.

    Only the offset ``reminder_offset_due`` picks is sent: an offset superseded by a nearer one
    is recorded as skipped instead, and one that doesn't apply (booked too close to the start)
    or isn't due yet sends nothing. The (appointment, offset) row is claimed before sending, so
    a second beat or a duplicate delivery sends nothing. If the backend raises, the claim is
    released and the error re-raised so the task's retry can send it. A claim whose worker died
    mid-way is taken over after ``STALE_CLAIM`` (``reminders_due`` lists it again).
    """
    now = now or timezone.now()
    appointment = Appointment.objects.with_related().filter(pk=appointment_id).first()
    if appointment is None:
        return False
    nearest = reminder_offset_due(appointment, now=now)
    if nearest is None or offset_minutes < nearest:
        return False
    if offset_minutes > nearest:
        _skip_superseded_reminders(appointment, nearest=nearest, now=now)
        return False
    if not _claim_reminder(appointment_id, offset_minutes, now):
        return False
    try:
        from appointments.emails import send_appointment_email

        send_appointment_email(appointment, "reminder")
    except Exception:
        ReminderClaim.objects.filter(
            appointment_id=appointment_id, offset_minutes=offset_minutes, sent_at__isnull=True
        ).delete()
        raise
    with transaction.atomic():
        ReminderClaim.objects.filter(
            appointment_id=appointment_id, offset_minutes=offset_minutes
        ).update(sent_at=timezone.now())
        _skip_superseded_reminders(appointment, nearest=offset_minutes, now=now)
    _notify_patient(
        appointment,
        f"Reminder: {appointment.appointment_type.name}",
        f"{_when(appointment.start)} with {appointment.provider.display_name}.",
    )
    return True


# --- Calendar feeds --------------------------------------------------------------------------


@transaction.atomic
def provider_feed_regenerate(
    *, actor, provider: ProviderProfile, revoke: bool = False, request=None
) -> ProviderProfile:
    """Issue a new secret feed token (the old URL stops working), or revoke the feed."""
    provider.feed_token = None if revoke else new_token()
    provider.save(update_fields=["feed_token"])
    audit_record(
        actor=actor,
        action="update",
        obj=provider,
        request=request,
        detail={"feed": "revoked" if revoke else "regenerated"},
    )
    return provider


@transaction.atomic
def patient_feed_regenerate(
    *, actor, patient, revoke: bool = False, request=None
) -> PatientCalendarFeed | None:
    PatientCalendarFeed.objects.filter(patient=patient).delete()
    feed = None if revoke else PatientCalendarFeed.objects.create(patient=patient)
    audit_record(
        actor=actor,
        action="update",
        object_type="appointments.patientcalendarfeed",
        object_id=patient.pk,
        patient_id=patient.pk,
        request=request,
        detail={"feed": "revoked" if revoke else "regenerated"},
    )
    return feed


# --- Waitlist ----------------------------------------------------------------------------------


@transaction.atomic
def waitlist_join(
    *,
    actor,
    patient,
    appointment_type: AppointmentType,
    date_from: date,
    date_to: date,
    provider: ProviderProfile | None = None,
    request=None,
) -> WaitlistEntry:
    """Put ``patient`` on the waitlist for a type (and provider) between two dates."""
    today = timezone.localdate()
    if date_from < today or date_to < date_from:
        raise ValidationError("Choose a date range from today onwards.")
    if (date_to - today).days > appointment_type.horizon_days:
        raise ValidationError(
            f"The waitlist covers at most {appointment_type.horizon_days} days ahead."
        )
    if not _is_staff(actor) and not appointment_type.self_bookable:
        raise ValidationError("This appointment type is booked through the clinic front desk.")
    entry = WaitlistEntry.objects.create(
        patient=patient,
        appointment_type=appointment_type,
        provider=provider,
        date_from=date_from,
        date_to=date_to,
    )
    audit_record(actor=actor, action="create", obj=entry, patient_id=patient.pk, request=request)
    return entry


def _after_commit_slot_freed(provider_id: int, start: datetime, end: datetime) -> None:
    if start <= timezone.now():
        return
    from appointments.tasks import offer_freed_slot

    iso = start.isoformat()
    transaction.on_commit(lambda: offer_freed_slot.delay(provider_id=provider_id, start=iso))


def offer_min_hold() -> timedelta:
    """The shortest waitlist hold worth offering (see APPOINTMENT_WAITLIST_MIN_HOLD_MINUTES)."""
    return timedelta(
        minutes=min(
            conf.get("APPOINTMENT_WAITLIST_MIN_HOLD_MINUTES"),
            conf.get("APPOINTMENT_WAITLIST_HOLD_MINUTES"),
        )
    )


def waitlist_offer_slot(
    *, provider_id: int, start: datetime, now: datetime | None = None
) -> WaitlistOffer | None:
    """Offer a freed slot to the first waiting patient for whom it fits; None when nobody fits.

    The offer holds the slot (other people's slot searches skip it) until it expires: the
    configured hold, but never past the point where online booking of that type closes
    (start minus its lead time), so a pending, unexpired offer can always be accepted. A
    patient whose offer would be shorter than ``offer_min_hold()`` is passed over; when that
    is everyone, nothing is offered and the slot stays free for anyone to book.
    """
    now = now or timezone.now()
    provider = ProviderProfile.objects.select_related("user").filter(pk=provider_id).first()
    if provider is None or start <= now:
        return None
    local_day = timezone.localtime(start, conf.clinic_tz()).date()
    already_offered = WaitlistOffer.objects.filter(provider_id=provider_id, start=start).values(
        "entry_id"
    )
    candidates = (
        WaitlistEntry.objects.select_related("appointment_type", "patient__user")
        .filter(status=WaitlistStatus.WAITING, date_from__lte=local_day, date_to__gte=local_day)
        .filter(Q(provider__isnull=True) | Q(provider_id=provider_id))
        .exclude(pk__in=already_offered)
    )
    hold = timedelta(minutes=conf.get("APPOINTMENT_WAITLIST_HOLD_MINUTES"))
    min_hold = offer_min_hold()
    for entry in candidates[:50]:
        lead = timedelta(minutes=entry.appointment_type.lead_time_minutes)
        expires_at = min(now + hold, start - lead)
        if expires_at - now < min_hold:
            continue  # no time to accept before online booking closes
        try:
            validate_slot(
                appointment_type=entry.appointment_type,
                provider=provider,
                start=start,
                patient_id=entry.patient_id,
                by_staff=False,
                now=now,
            )
        except ValidationError:
            continue
        with transaction.atomic():
            claimed = WaitlistEntry.objects.filter(
                pk=entry.pk, status=WaitlistStatus.WAITING
            ).update(status=WaitlistStatus.OFFERED)
            if not claimed:
                continue
            offer = WaitlistOffer.objects.create(
                entry=entry,
                provider=provider,
                start=start,
                end=start
                + timedelta(
                    minutes=entry.appointment_type.duration_minutes
                    + entry.appointment_type.buffer_minutes
                ),
                expires_at=expires_at,
            )
            audit_record(
                action="create",
                obj=offer,
                patient_id=entry.patient_id,
                actor_email="system:waitlist",
                detail={"start": start.isoformat(), "provider": provider_id},
            )
            if entry.patient.user is not None:
                from accounts.services import notify

                notify(
                    user=entry.patient.user,
                    title=f"A slot opened: {entry.appointment_type.name}",
                    body=f"{_when(start)} with {provider.display_name} is held for you until "
                    f"{_when(offer.expires_at)}. Accept it before then to book it.",
                    url=reverse("appointments:waitlist_offer", args=[offer.pk]),
                    category="appointments",
                )
        return offer
    return None


def waitlist_offer_accept(*, actor, offer: WaitlistOffer, request=None) -> Appointment:
    """Book the held slot for the offer's patient. Raises ``ValidationError`` if it lapsed."""
    with transaction.atomic():
        locked = (
            WaitlistOffer.objects.select_for_update()
            .select_related("entry__patient", "entry__appointment_type", "provider__user")
            .get(pk=offer.pk)
        )
        if locked.status != OfferStatus.PENDING or locked.expires_at <= timezone.now():
            raise ValidationError("This offer has expired.")
        entry = locked.entry
        appointment = appointment_book(
            actor=actor,
            patient=entry.patient,
            appointment_type=entry.appointment_type,
            provider=locked.provider,
            start=locked.start,
            source=BookingSource.WAITLIST,
            reason="From the waitlist",
            request=request,
        )
        locked.status, locked.appointment = OfferStatus.ACCEPTED, appointment
        locked.save(update_fields=["status", "appointment"])
        entry.status = WaitlistStatus.BOOKED
        entry.save(update_fields=["status"])
    return appointment


def waitlist_offer_decline(*, actor, offer: WaitlistOffer, request=None) -> WaitlistOffer:
    with transaction.atomic():
        updated = WaitlistOffer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING).update(
            status=OfferStatus.DECLINED
        )
        if not updated:
            raise ValidationError("This offer is no longer open.")
        WaitlistEntry.objects.filter(pk=offer.entry_id).update(status=WaitlistStatus.WAITING)
        audit_record(
            actor=actor,
            action="update",
            obj=offer,
            patient_id=offer.entry.patient_id,
            request=request,
            detail={"offer": "declined"},
        )
        _after_commit_slot_freed(offer.provider_id, offer.start, offer.end)
    return offer


def waitlist_expire_offers(*, now: datetime | None = None) -> int:
    """Lapse offers past their hold and offer each slot to the next waiting patient."""
    now = now or timezone.now()
    expired = 0
    for offer in WaitlistOffer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=now)[
        :200
    ]:
        with transaction.atomic():
            if not WaitlistOffer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING).update(
                status=OfferStatus.EXPIRED
            ):
                continue
            WaitlistEntry.objects.filter(pk=offer.entry_id, status=WaitlistStatus.OFFERED).update(
                status=WaitlistStatus.LAPSED
            )
        expired += 1
        waitlist_offer_slot(provider_id=offer.provider_id, start=offer.start, now=now)
    return expired


def active_statuses() -> tuple[str, ...]:
    return tuple(ACTIVE_STATUSES)
