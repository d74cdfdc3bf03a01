"""The waitlist: joining, offering freed slots in turn, accepting, declining, expiring."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.services import notify
from appointments import conf, schedule_cache
from appointments.models import (
    Appointment,
    AppointmentType,
    BookingSource,
    OfferStatus,
    ProviderProfile,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from appointments.services.booking import appointment_book
from appointments.services.common import _after_commit_slot_freed, _is_staff, _when
from appointments.slots import validate_slot


@transaction.atomic
def waitlist_join(
    *,
    actor: User | None,
    patient,
    appointment_type: AppointmentType,
    date_from: date,
    date_to: date,
    provider: ProviderProfile | None = None,
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
    audit_record(actor=actor, action=AuditAction.CREATE, obj=entry, patient_id=patient.pk)
    return entry


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
                action=AuditAction.CREATE,
                obj=offer,
                patient_id=entry.patient_id,
                actor_email="system:waitlist",
                detail={"start": start.isoformat(), "provider": provider_id},
            )
            if entry.patient.user is not None:
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


def waitlist_offer_accept(*, actor: User | None, offer: WaitlistOffer) -> Appointment:
    """Book the held slot for the offer's patient. Raises ``ValidationError`` if it lapsed,
    and ``BookingCapReached`` when the patient (accepting for themself) already holds the
    most upcoming appointments online booking allows: counted under the patient row lock,
    in the booking's transaction, like an online booking. The offer then stays open until
    it lapses, so cancelling another appointment and accepting again works."""
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
        )
        locked.status, locked.appointment = OfferStatus.ACCEPTED, appointment
        locked.save(update_fields=["status", "appointment"])
        entry.status = WaitlistStatus.BOOKED
        entry.save(update_fields=["status"])
    return appointment


def waitlist_offer_decline(*, actor: User | None, offer: WaitlistOffer) -> WaitlistOffer:
    with transaction.atomic():
        updated = WaitlistOffer.objects.filter(pk=offer.pk, status=OfferStatus.PENDING).update(
            status=OfferStatus.DECLINED
        )
        if not updated:
            raise ValidationError("This offer is no longer open.")
        WaitlistEntry.objects.filter(pk=offer.entry_id).update(status=WaitlistStatus.WAITING)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=offer,
            patient_id=offer.entry.patient_id,
            detail={"offer": "declined"},
        )
        _after_commit_slot_freed(offer.provider_id, offer.start, offer.end)
        schedule_cache.days_changed(offer.start)  # an update(): no signal for the receivers
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
            schedule_cache.days_changed(offer.start)  # an update(): no signal for the receivers
        expired += 1
        waitlist_offer_slot(provider_id=offer.provider_id, start=offer.start, now=now)
    return expired
