"""Leave over booked time can move the affected appointments instead of cancelling them
(issue #11): each is offered the next free times of the same provider and type, moved in
the transaction that adds the leave, and the patient is told the new time through the
outbox. A move that cannot be made is refused cleanly (409, nothing changed), never a 500.
Runs on PostgreSQL: the exclusion constraint is what finally guards double booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Notification, OutboxMessage
from appointments.models import Appointment, AvailabilityException, WaitlistEntry
from appointments.services import booking
from appointments.slots import Slot
from tests.appointments.factories import AppointmentFactory
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _leave(clinic, **extra):
    day = clinic.day
    return {
        "form": "exception",
        "kind": "leave",
        "note": "Conference",
        "starts_at": f"{day:%Y-%m-%d}T08:00",
        "ends_at": f"{day:%Y-%m-%d}T12:00",
        **extra,
    }


def _value(clinic, hhmm: str) -> str:
    start = clinic.at(hhmm)
    return Slot(clinic.doctor.pk, "", start, start).value


def _booked(clinic, hhmm: str, patient=None) -> Appointment:
    return AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=patient or clinic.patient,
        start=clinic.at(hhmm),
    )


@pytest.fixture
def schedule(client, clinic, admin_user):
    login(client, admin_user)
    return reverse("appointments:schedule_edit", args=[clinic.doctor.pk])


def test_leave_lists_distinct_next_free_times_then_moves_one_and_cancels_the_other(
    client, clinic, schedule, django_capture_on_commit_callbacks
):
    first = _booked(clinic, "10:00")
    second = _booked(clinic, "10:40", patient=clinic.other)

    preview = client.post(schedule, _leave(clinic))

    assert preview.status_code == 409
    body = preview.content.decode()
    assert 'id="affected-form"' in body
    assert f'name="affected_ids" value="{first.pk},{second.pk}"' in body
    # The next free times after the leave, one each (the suggestions never collide).
    assert f'<option value="{_value(clinic, "12:00")}" selected>' in body
    assert f'<option value="{_value(clinic, "12:40")}" selected>' in body
    assert not AvailabilityException.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            schedule,
            _leave(
                clinic,
                cancel_affected="1",
                affected_ids=f"{first.pk},{second.pk}",
                **{f"move_{first.pk}": _value(clinic, "12:00"), f"move_{second.pk}": "cancel"},
            ),
        )

    assert done.status_code == 302
    assert AvailabilityException.objects.filter(kind="leave").count() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.start == clinic.at("12:00") and first.provider == clinic.doctor
    assert first.status == "booked" and first.appointment_type == clinic.consult
    assert second.status == "cancelled" and "/appointments/book/" in second.cancel_reason
    # The moved patient is told the new time: in the portal, and by email via the outbox.
    assert Notification.objects.filter(
        user=clinic.patient.user, title__startswith="Appointment moved"
    ).exists()
    assert OutboxMessage.objects.filter(
        task="appointments.tasks.send_appointment_email",
        kwargs__appointment_id=first.pk,
        kwargs__kind="rescheduled",
    ).exists()
    assert any(clinic.patient.user.email in m.to for m in mail.outbox)
    # Only the cancelled patient goes on the waitlist.
    assert WaitlistEntry.objects.filter(patient=clinic.other, status="waiting").exists()
    assert not WaitlistEntry.objects.filter(patient=clinic.patient).exists()


def test_a_move_to_a_time_taken_meanwhile_is_refused_and_nothing_changes(
    client, clinic, schedule, front_desk_user
):
    affected = _booked(clinic, "10:00")
    assert client.post(schedule, _leave(clinic)).status_code == 409
    # Someone books the suggested time before the staff member confirms.
    booking.appointment_book(
        actor=front_desk_user,
        patient=clinic.other,
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        start=clinic.at("12:00"),
        source="staff",
    )

    refused = client.post(
        schedule,
        _leave(
            clinic,
            cancel_affected="1",
            affected_ids=str(affected.pk),
            **{f"move_{affected.pk}": _value(clinic, "12:00")},
        ),
    )

    assert refused.status_code == 409
    body = refused.content.decode()
    assert 'id="move-error"' in body and "Could not move Pat Student" in body
    assert "Nothing was changed" in body
    # The list is shown again with fresh choices (12:00 is gone, 12:40 is next).
    assert f'<option value="{_value(clinic, "12:40")}" selected>' in body
    assert not AvailabilityException.objects.exists()
    affected.refresh_from_db()
    assert affected.start == clinic.at("10:00") and affected.status == "booked"


def test_the_exclusion_constraint_still_guards_a_move(
    client, clinic, schedule, front_desk_user, monkeypatch
):
    """Even if the slot check were fooled (a race between check and write), PostgreSQL's
    exclusion constraint refuses the overlapping move: 409 and nothing changed."""
    affected = _booked(clinic, "10:00")
    _booked(clinic, "12:00", patient=clinic.other)

    def no_check(*, appointment_type, start, **kwargs):
        return start + timedelta(minutes=appointment_type.duration_minutes)

    monkeypatch.setattr(booking, "validate_slot", no_check)
    client.raise_request_exception = False
    refused = client.post(
        schedule,
        _leave(
            clinic,
            cancel_affected="1",
            affected_ids=str(affected.pk),
            **{f"move_{affected.pk}": _value(clinic, "12:10")},
        ),
    )

    assert refused.status_code == 409
    assert "the new time was just taken" in refused.content.decode()
    assert not AvailabilityException.objects.exists()
    affected.refresh_from_db()
    assert affected.start == clinic.at("10:00")


def test_two_appointments_moved_to_one_time_is_refused(client, clinic, schedule):
    one = _booked(clinic, "10:00")
    two = _booked(clinic, "11:00", patient=clinic.other)
    refused = client.post(
        schedule,
        _leave(
            clinic,
            cancel_affected="1",
            affected_ids=f"{one.pk},{two.pk}",
            **{
                f"move_{one.pk}": _value(clinic, "12:00"),
                f"move_{two.pk}": _value(clinic, "12:00"),
            },
        ),
    )
    assert refused.status_code == 409 and "Could not move Otto Other" in refused.content.decode()
    assert not AvailabilityException.objects.exists()
    assert set(Appointment.objects.values_list("start", flat=True)) == {
        clinic.at("10:00"),
        clinic.at("11:00"),
    }


@pytest.mark.parametrize(
    "value", ["garbage", "0|2030-01-01T00:00:00Z", "other-provider", "into-the-leave"]
)
def test_a_tampered_or_impossible_move_is_a_clean_409(client, clinic, schedule, value):
    affected = _booked(clinic, "10:00")
    if value == "other-provider":
        value = Slot(clinic.dentist.pk, "", clinic.at("12:00"), clinic.at("12:00")).value
    elif value == "into-the-leave":
        value = _value(clinic, "09:00")
    response = client.post(
        schedule,
        _leave(
            clinic,
            cancel_affected="1",
            affected_ids=str(affected.pk),
            **{f"move_{affected.pk}": value},
        ),
    )
    assert response.status_code == 409 and 'id="move-error"' in response.content.decode()
    assert not AvailabilityException.objects.exists()
    affected.refresh_from_db()
    assert affected.start == clinic.at("10:00") and affected.status == "booked"


def test_an_appointment_booked_after_the_list_was_shown_is_not_handled_unseen(
    client, clinic, schedule
):
    seen = _booked(clinic, "10:00")
    assert client.post(schedule, _leave(clinic)).status_code == 409
    unseen = _booked(clinic, "11:00", patient=clinic.other)
    response = client.post(schedule, _leave(clinic, cancel_affected="1", affected_ids=str(seen.pk)))
    assert response.status_code == 409 and "review them again" in response.content.decode()
    assert not AvailabilityException.objects.exists()
    unseen.refresh_from_db()
    assert unseen.status == "booked"


def test_no_free_time_left_offers_only_cancel(client, clinic, schedule, settings):
    affected = _booked(clinic, "10:00")
    # Leave over the whole search range: nothing to move to.
    last = clinic.day + timedelta(days=30)
    body = client.post(schedule, _leave(clinic, ends_at=f"{last:%Y-%m-%d}T17:00")).content.decode()
    assert f'name="move_{affected.pk}"' in body
    assert "no free time in the next two weeks" in body
    assert '<option value="cancel" selected>' in body


def test_the_service_refuses_when_the_reviewed_list_no_longer_matches(clinic, admin_user):
    """Booked between the page's check and the service's lock: the service compares the ids
    the staff member reviewed with those it finds under lock, and changes nothing."""
    from django.core.exceptions import ValidationError

    from appointments.services.schedules import availability_exception_add

    reviewed = _booked(clinic, "10:00")
    _booked(clinic, "11:00", patient=clinic.other)  # the one nobody saw
    exception = AvailabilityException(
        kind="leave", starts_at=clinic.at("08:00"), ends_at=clinic.at("12:00")
    )
    with pytest.raises(ValidationError, match="review them again"):
        availability_exception_add(
            actor=admin_user,
            provider=clinic.doctor,
            exception=exception,
            cancel_affected=True,
            reviewed={reviewed.pk},
        )
    assert not AvailabilityException.objects.exists()
    assert Appointment.objects.filter(status="booked").count() == 2
