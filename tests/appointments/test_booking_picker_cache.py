"""The booking page's picker form and week of slots, and the slots API's answer, are shared
through the schedule cache (appointments.picker), and every change they show is visible on
the next request: bookings, holds (taken, declined, lapsed), leave and extra hours, type and
provider changes, who performs what, and the time moving on.

Writes run inside ``django_capture_on_commit_callbacks(execute=True)``: the cache is bumped
when a transaction commits, as in production (the test's own transaction never does)."""

import re
from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone

from appointments.models import (
    AvailabilityException,
    BookingSource,
    ExceptionKind,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from appointments.services import booking, waitlist
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

SCHEDULE_TABLES = (
    "appointments_appointment",
    "appointments_appointmenttype",
    "appointments_providerprofile",
    "appointments_weeklyavailability",
    "appointments_availabilityexception",
    "appointments_waitlistoffer",
)


@pytest.fixture
def desk(client_for, front_desk_user):
    return client_for(front_desk_user)


def _page_url(clinic, day=None, provider=None):
    provider = provider or clinic.doctor
    return (
        f"/appointments/new/?type={clinic.consult.pk}&provider={provider.pk}"
        f"&date={(day or clinic.day):%Y-%m-%d}"
    )


def _api_url(clinic, **extra):
    query = {
        "appointment_type": clinic.consult.pk,
        "provider": clinic.doctor.pk,
        "date_from": f"{clinic.day:%Y-%m-%d}",
        "date_to": f"{clinic.day + timedelta(days=6):%Y-%m-%d}",
        **extra,
    }
    return "/api/v1/slots/?" + "&".join(f"{k}={v}" for k, v in query.items())


def _html(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _starts(client, clinic) -> set[str]:
    response = client.get(_api_url(clinic))
    assert response.status_code == 200
    return {s["start"] for s in response.json()["results"]}


def _select(client, clinic, name: str) -> str:
    """The booking page's ``<select name=...>`` (a type and a provider may share an id)."""
    html = _html(client, _page_url(clinic))
    return re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)


def _value(clinic, hhmm, provider=None, day=None):
    start = clinic.at(hhmm, day=day or clinic.day).astimezone(UTC)
    return f'value="{(provider or clinic.doctor).pk}|{start:%Y-%m-%dT%H:%M:%SZ}"'


def _api_start(clinic, hhmm):
    return timezone.localtime(clinic.at(hhmm)).isoformat()


def _hold(clinic, hhmm, minutes=60):
    entry = WaitlistEntry.objects.create(
        patient=clinic.patient,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day,
        status=WaitlistStatus.OFFERED,
    )
    return WaitlistOffer.objects.create(
        entry=entry,
        provider=clinic.doctor,
        start=clinic.at(hhmm),
        end=clinic.at(hhmm) + timedelta(minutes=40),
        expires_at=timezone.now() + timedelta(minutes=minutes),
    )


def test_second_request_reads_no_schedule_table(clinic, desk, django_assert_max_num_queries):
    AppointmentFactory(
        provider=clinic.doctor, appointment_type=clinic.consult, start=clinic.at("09:00")
    )
    for url in (_page_url(clinic), _api_url(clinic)):
        first = desk.get(url).content
        with django_assert_max_num_queries(5) as queries:
            second = desk.get(url).content
        assert second.replace(b"\n", b"").count(b"slot") == first.replace(b"\n", b"").count(b"slot")
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert not [t for t in SCHEDULE_TABLES if f'"{t}"' in sql], sql
    assert _value(clinic, "09:00") not in _html(desk, _page_url(clinic))
    assert _value(clinic, "09:40") in _html(desk, _page_url(clinic))


def test_booking_and_cancel_show_on_the_next_request_page_and_api(
    clinic, desk, front_desk_user, django_capture_on_commit_callbacks
):
    value, start = _value(clinic, "10:00"), _api_start(clinic, "10:00")
    assert value in _html(desk, _page_url(clinic)) and start in _starts(desk, clinic)
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(
            actor=front_desk_user,
            patient=clinic.other,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=clinic.at("10:00"),
            source=BookingSource.STAFF,
        )
    assert value not in _html(desk, _page_url(clinic)) and start not in _starts(desk, clinic)
    moved = _value(clinic, "10:40", day=clinic.day + timedelta(days=1))
    assert moved in _html(desk, _page_url(clinic))
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_reschedule(
            actor=front_desk_user,
            appointment=appointment,
            start=clinic.at("10:40", day=clinic.day + timedelta(days=1)),
        )
    html = _html(desk, _page_url(clinic))
    assert value in html and moved not in html
    assert start in _starts(desk, clinic)
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=front_desk_user, appointment=appointment)
    assert moved in _html(desk, _page_url(clinic))


def test_leave_and_extra_hours_show_on_the_next_request(
    clinic, desk, django_capture_on_commit_callbacks
):
    assert _value(clinic, "10:00") in _html(desk, _page_url(clinic))
    assert _value(clinic, "18:00") not in _html(desk, _page_url(clinic))
    with django_capture_on_commit_callbacks(execute=True):
        AvailabilityException.objects.create(
            provider=clinic.doctor,
            kind=ExceptionKind.EXTRA,
            starts_at=clinic.at("18:00"),
            ends_at=clinic.at("19:00"),
        )
    assert _value(clinic, "18:00") in _html(desk, _page_url(clinic))
    assert _api_start(clinic, "18:00") in _starts(desk, clinic)
    with django_capture_on_commit_callbacks(execute=True):
        AvailabilityException.objects.create(
            provider=clinic.doctor,
            kind=ExceptionKind.LEAVE,
            starts_at=clinic.at("00:00"),
            ends_at=clinic.at("23:59"),
        )
    html = _html(desk, _page_url(clinic))
    assert _value(clinic, "10:00") not in html and _value(clinic, "18:00") not in html
    assert _api_start(clinic, "10:00") not in _starts(desk, clinic)


def test_holds_taken_declined_and_lapsed_show_on_the_next_request(
    clinic, desk, client_for, front_desk_user, django_capture_on_commit_callbacks
):
    value, start = _value(clinic, "10:00"), _api_start(clinic, "10:00")
    with django_capture_on_commit_callbacks(execute=True):
        offer = _hold(clinic, "10:00")
    assert value not in _html(desk, _page_url(clinic)) and start not in _starts(desk, clinic)
    with django_capture_on_commit_callbacks(execute=True):
        waitlist.waitlist_offer_decline(actor=None, offer=offer)
    assert value in _html(desk, _page_url(clinic)) and start in _starts(desk, clinic)

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        desk = client_for(front_desk_user)  # signed in at the travelled time
        with django_capture_on_commit_callbacks(execute=True):
            _hold(clinic, "14:00", minutes=10)
        value, start = _value(clinic, "14:00"), _api_start(clinic, "14:00")
        assert value not in _html(desk, _page_url(clinic))  # cached with the hold...
        assert start not in _starts(desk, clinic)
        traveller.shift(timedelta(minutes=11))  # ...which lapses with no write
        assert value in _html(desk, _page_url(clinic)) and start in _starts(desk, clinic)


def test_the_time_moving_on_moves_the_first_slot(clinic, client_for, front_desk_user):
    with time_machine.travel(clinic.at("09:52"), tick=False) as traveller:
        desk = client_for(front_desk_user)
        today = _page_url(clinic, day=clinic.day)
        html = _html(desk, today)  # staff book from the next five minutes on
        assert _value(clinic, "09:55") in html and _value(clinic, "10:00") not in html
        traveller.shift(timedelta(minutes=4))  # 09:56: 09:55 has begun
        html = _html(desk, today)
        assert _value(clinic, "09:55") not in html and _value(clinic, "10:00") in html


def test_type_and_provider_changes_show_on_the_next_request(
    clinic, desk, django_capture_on_commit_callbacks
):
    assert "Consultation · 30 minutes" in _html(desk, _page_url(clinic))
    with django_capture_on_commit_callbacks(execute=True):
        clinic.consult.name = "Check-up"
        clinic.consult.duration_minutes = 20
        clinic.consult.save()
    html = _html(desk, _page_url(clinic))
    assert "Check-up · 20 minutes" in html and ">Check-up</option>" in html

    with django_capture_on_commit_callbacks(execute=True):
        user = clinic.doctor.user
        user.last_name = "Renamedoctor"
        user.save()
    html = _html(desk, _page_url(clinic))
    assert html.count("Renamedoctor") >= 2  # the provider list and the slots
    assert {s["provider_name"] for s in desk.get(_api_url(clinic)).json()["results"]} == {
        clinic.doctor.display_name.replace(clinic.doctor.user.last_name, "Renamedoctor")
    }

    # Limited to dental cleanings: the consultation page says so, the API has no slots.
    with django_capture_on_commit_callbacks(execute=True):
        clinic.doctor.appointment_types.add(clinic.cleaning)
    html = _html(desk, _page_url(clinic))
    assert "does not perform check-up appointments" in html
    assert _value(clinic, "10:00") not in html

    with django_capture_on_commit_callbacks(execute=True):
        clinic.doctor.is_active = False
        clinic.doctor.save()
    assert f'<option value="{clinic.doctor.pk}"' not in _select(desk, clinic, "provider")
    assert _api_errors(desk.get(_api_url(clinic))) == [
        {
            "code": "does_not_exist",
            "detail": f'Invalid pk "{clinic.doctor.pk}" - object does not exist.',
            "field": "provider",
        }
    ]

    with django_capture_on_commit_callbacks(execute=True):
        clinic.doctor.is_active = True
        clinic.doctor.save()
        clinic.doctor.appointment_types.clear()
    assert _api_start(clinic, "10:00") in _starts(desk, clinic)
    with django_capture_on_commit_callbacks(execute=True):
        clinic.consult.is_active = False
        clinic.consult.save()
    assert f'<option value="{clinic.consult.pk}"' not in _select(desk, clinic, "type")
    assert _api_errors(desk.get(_api_url(clinic)))[0]["field"] == "appointment_type"


def _api_errors(response) -> list[dict]:
    assert response.status_code == 400
    return response.json()["errors"]


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("999999", "does_not_exist", 'Invalid pk "999999" - object does not exist.'),
        ("abc", "incorrect_type", "Incorrect type. Expected pk value, received str."),
        ("1.5", "incorrect_type", "Incorrect type. Expected pk value, received str."),
    ],
)
def test_api_bad_ids_answer_as_before(clinic, desk, value, code, message):
    """PrimaryKeyRelatedField's answers, now looked up in the shared rows."""
    for field in ("appointment_type", "provider"):
        response = desk.get(_api_url(clinic, **{field: value}))
        assert _api_errors(response) == [{"code": code, "detail": message, "field": field}]


def test_patient_page_keeps_their_own_appointments_out(
    clinic, client_for, patient_user, django_capture_on_commit_callbacks
):
    me = client_for(patient_user)
    url = _page_url(clinic, day=clinic.day + timedelta(days=1)).replace("/new/", "/book/")
    later = clinic.day + timedelta(days=1)
    assert _value(clinic, "10:00", day=later) in _html(me, url)
    with django_capture_on_commit_callbacks(execute=True):
        AppointmentFactory(  # with the dentist: the doctor's 10:00 is free but not for them
            patient=clinic.patient,
            provider=clinic.dentist,
            appointment_type=clinic.cleaning,
            start=clinic.at("10:00", day=later),
        )
    assert _value(clinic, "10:00", day=later) not in _html(me, url)
