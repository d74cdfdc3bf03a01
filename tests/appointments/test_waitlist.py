"""Waitlist: a freed slot is offered to the first waiting patient, held, then cascades."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Notification
from appointments.models import OfferStatus, WaitlistOffer, WaitlistStatus
from appointments.services import booking, waitlist
from appointments.slots import free_slots, validate_slot
from tests.appointments.factories import AppointmentTypeFactory, PatientFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_freed_slot_is_offered_held_and_cascades(
    clinic, patient_user, other_patient_user, front_desk_user, django_capture_on_commit_callbacks
):
    taken = booking.appointment_book(
        actor=front_desk_user,
        patient=PatientFactory(),
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        start=clinic.at("10:00"),
        source="staff",
    )
    first = waitlist.waitlist_join(
        actor=patient_user,
        patient=clinic.patient,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day,
    )
    second = waitlist.waitlist_join(
        actor=other_patient_user,
        patient=clinic.other,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day + timedelta(days=2),
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=front_desk_user, appointment=taken, reason="Unwell")
    offer = WaitlistOffer.objects.get()
    assert offer.entry == first and offer.start == clinic.at("10:00")
    assert Notification.objects.filter(
        user=patient_user, title__startswith="A slot opened"
    ).exists()
    # The held slot is hidden from everyone else but visible to its holder.
    others = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day,
        patient_id=clinic.other.pk,
    )
    assert clinic.at("10:00") not in {s.start for s in others}
    # It lapses; the next patient gets it.
    WaitlistOffer.objects.filter(pk=offer.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert waitlist.waitlist_expire_offers() == 1
    first.refresh_from_db()
    assert first.status == WaitlistStatus.LAPSED
    offer2 = WaitlistOffer.objects.get(status=OfferStatus.PENDING)
    assert offer2.entry == second
    with pytest.raises(ValidationError):
        waitlist.waitlist_offer_accept(actor=patient_user, offer=offer)
    appointment = waitlist.waitlist_offer_accept(actor=other_patient_user, offer=offer2)
    assert appointment.patient == clinic.other and appointment.start == clinic.at("10:00")
    second.refresh_from_db()
    assert second.status == WaitlistStatus.BOOKED


def test_waitlist_refuses_past_or_far_dates(clinic, patient_user):
    with pytest.raises(ValidationError):
        waitlist.waitlist_join(
            actor=patient_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            date_from=clinic.day - timedelta(days=5),
            date_to=clinic.day,
        )
    with pytest.raises(ValidationError):
        waitlist.waitlist_join(
            actor=patient_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            date_from=clinic.day,
            date_to=clinic.day + timedelta(days=365),
        )


def test_nobody_fitting_means_no_offer(clinic):
    UserFactory()
    assert (
        waitlist.waitlist_offer_slot(provider_id=clinic.doctor.pk, start=clinic.at("10:00")) is None
    )


def _at(moment):
    """Run the code under test as if it were ``moment`` (services read ``timezone.now``)."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def _join(clinic, patient_user, appointment_type=None, patient=None):
    return waitlist.waitlist_join(
        actor=patient_user,
        patient=patient or clinic.patient,
        appointment_type=appointment_type or clinic.consult,
        date_from=timezone.localdate(),
        date_to=clinic.day,
    )


def test_offer_near_the_start_ends_when_online_booking_closes_and_can_be_accepted(
    clinic, patient_user, front_desk_user
):
    """Freed 95 min ahead with a 60-min lead time: the hold runs 35 min (not the configured
    2 h, not until the start); accepting while it runs always passes the lead-time check, and
    once it ends the slot is free again (the front desk can book it)."""
    start = clinic.at("10:00")
    entry = _join(clinic, patient_user)
    offered_at = start - timedelta(minutes=95)
    offer = waitlist.waitlist_offer_slot(provider_id=clinic.doctor.pk, start=start, now=offered_at)
    assert offer is not None
    assert offer.expires_at == start - timedelta(minutes=clinic.consult.lead_time_minutes)
    assert offer.expires_at - offered_at == timedelta(minutes=35)
    # The last moment of the hold: still bookable by the patient.
    with _at(offer.expires_at - timedelta(seconds=1)):
        appointment = waitlist.waitlist_offer_accept(actor=patient_user, offer=offer)
    assert appointment.start == start and appointment.patient == clinic.patient
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.BOOKED


def test_offer_hold_no_longer_blocks_the_slot_once_online_booking_closes(
    clinic, patient_user, front_desk_user
):
    start = clinic.at("10:00")
    _join(clinic, patient_user)
    offer = waitlist.waitlist_offer_slot(
        provider_id=clinic.doctor.pk, start=start, now=start - timedelta(minutes=95)
    )
    with _at(start - timedelta(minutes=50)):
        with pytest.raises(ValidationError, match="expired"):
            waitlist.waitlist_offer_accept(actor=patient_user, offer=offer)
        booked = booking.appointment_book(
            actor=front_desk_user,
            patient=clinic.other,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=start,
            source="staff",
        )
    assert booked.start == start


def test_slot_too_close_for_a_meaningful_hold_is_not_offered(clinic, patient_user):
    """70 min ahead with a 60-min lead time leaves a 10-min hold, under the 15-min minimum:
    nobody is offered it, the patient stays waiting and the slot stays free for anyone."""
    start = clinic.at("10:00")
    entry = _join(clinic, patient_user)
    now = start - timedelta(minutes=70)
    assert waitlist.offer_min_hold() == timedelta(minutes=15)
    assert waitlist.waitlist_offer_slot(provider_id=clinic.doctor.pk, start=start, now=now) is None
    assert not WaitlistOffer.objects.exists()
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.WAITING
    # Anyone else may still book it online (nothing holds it).
    validate_slot(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        start=start,
        patient_id=clinic.other.pk,
        by_staff=False,
        now=now,
    )
    # Exactly the minimum is still worth offering.
    offer = waitlist.waitlist_offer_slot(
        provider_id=clinic.doctor.pk, start=start, now=start - timedelta(minutes=75)
    )
    assert offer is not None and offer.expires_at == start - timedelta(minutes=60)


def test_too_short_a_hold_passes_to_a_patient_whose_type_books_closer_in(
    clinic, patient_user, other_patient_user
):
    """The hold depends on each waiting patient's appointment type: one whose type has a
    shorter lead time can still be offered the slot."""
    quick = AppointmentTypeFactory(name="Quick check", slug="quick-check", lead_time_minutes=30)
    _join(clinic, patient_user)
    second = _join(clinic, other_patient_user, appointment_type=quick, patient=clinic.other)
    start = clinic.at("10:00")
    offer = waitlist.waitlist_offer_slot(
        provider_id=clinic.doctor.pk, start=start, now=start - timedelta(minutes=70)
    )
    assert offer is not None and offer.entry == second
    assert offer.expires_at == start - timedelta(minutes=30)
