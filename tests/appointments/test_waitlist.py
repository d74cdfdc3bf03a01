"""Waitlist: a freed slot is offered to the first waiting patient, held, then cascades."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Notification
from appointments import services
from appointments.models import OfferStatus, WaitlistOffer, WaitlistStatus
from appointments.slots import free_slots
from tests.appointments.factories import PatientFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_freed_slot_is_offered_held_and_cascades(
    clinic, patient_user, other_patient_user, front_desk_user, django_capture_on_commit_callbacks
):
    taken = services.appointment_book(
        actor=front_desk_user,
        patient=PatientFactory(),
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        start=clinic.at("10:00"),
        source="staff",
    )
    first = services.waitlist_join(
        actor=patient_user,
        patient=clinic.patient,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day,
    )
    second = services.waitlist_join(
        actor=other_patient_user,
        patient=clinic.other,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day + timedelta(days=2),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_cancel(actor=front_desk_user, appointment=taken, reason="Unwell")
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
    assert services.waitlist_expire_offers() == 1
    first.refresh_from_db()
    assert first.status == WaitlistStatus.LAPSED
    offer2 = WaitlistOffer.objects.get(status=OfferStatus.PENDING)
    assert offer2.entry == second
    with pytest.raises(ValidationError):
        services.waitlist_offer_accept(actor=patient_user, offer=offer)
    appointment = services.waitlist_offer_accept(actor=other_patient_user, offer=offer2)
    assert appointment.patient == clinic.other and appointment.start == clinic.at("10:00")
    second.refresh_from_db()
    assert second.status == WaitlistStatus.BOOKED


def test_waitlist_refuses_past_or_far_dates(clinic, patient_user):
    with pytest.raises(ValidationError):
        services.waitlist_join(
            actor=patient_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            date_from=clinic.day - timedelta(days=5),
            date_to=clinic.day,
        )
    with pytest.raises(ValidationError):
        services.waitlist_join(
            actor=patient_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            date_from=clinic.day,
            date_to=clinic.day + timedelta(days=365),
        )


def test_nobody_fitting_means_no_offer(clinic):
    UserFactory()
    assert (
        services.waitlist_offer_slot(provider_id=clinic.doctor.pk, start=clinic.at("10:00")) is None
    )
