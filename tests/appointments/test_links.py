"""Signed confirm/cancel links: work without signing in, once, until they expire."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import signing
from django.test import Client

from appointments.services import links
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def appt(clinic):
    return AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )


def path(appt, action):
    return f"/appointments/link/{links.link_token(appt, action)}/"


def test_confirm_link_shows_a_button_then_confirms_once(appt):
    client = Client()
    url = path(appt, "confirm")
    response = client.get(url)
    assert response.status_code == 200 and b"Yes, I'm coming" in response.content
    appt.refresh_from_db()
    assert appt.status == "booked"  # a GET (mail scanner) changes nothing
    assert client.post(url).status_code == 200
    appt.refresh_from_db()
    assert appt.status == "confirmed"
    again = client.post(url)
    assert again.status_code == 400 and b"already been used" in again.content


def test_cancel_link_cancels(appt, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post(path(appt, "cancel")).status_code == 200
    appt.refresh_from_db()
    assert appt.status == "cancelled" and appt.cancelled_by is None
    assert "Appointment cancelled" in mailoutbox[0].subject


def test_tampered_and_expired_links_are_refused(appt):
    token = links.link_token(appt, "cancel")
    assert Client().post(f"/appointments/link/{token[:-2]}xx/").status_code == 400
    forged = signing.dumps({"a": appt.pk, "x": "cancel", "j": "x"}, salt="other")
    assert Client().post(f"/appointments/link/{forged}/").status_code == 400
    with mock.patch(
        "django.core.signing.time.time", return_value=__import__("time").time() + 3600 * 24 * 30
    ):
        response = Client().post(f"/appointments/link/{token}/")
    assert response.status_code == 400 and b"expired" in response.content
    appt.refresh_from_db()
    assert appt.status == "booked"


def test_cancel_link_respects_the_cutoff(clinic):
    from django.utils import timezone

    soon = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=(timezone.now() + timedelta(minutes=30)).replace(second=0, microsecond=0),
    )
    response = Client().post(path(soon, "cancel"))
    assert response.status_code == 400 and b"call the clinic" in response.content
    soon.refresh_from_db()
    assert soon.status == "booked"
