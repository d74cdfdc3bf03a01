"""Absolute links come from SITE_URL, never from the Host header; providers see their feed."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_password_reset_link_uses_site_url_not_the_host_header(client, patient_user, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://clinic.example.edu"
    response = client.post(
        reverse("accounts:password_reset"),
        {"email": patient_user.email},
        HTTP_HOST="evil.example.net",
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    bodies = [message.body] + [alt[0] for alt in message.alternatives]
    for body in bodies:
        assert "https://clinic.example.edu/accounts/password/reset/" in body
        assert "evil.example.net" not in body


def test_provider_sees_and_manages_their_own_calendar_feed(client, clinic, doctor_user, settings):
    settings.SITE_URL = "https://clinic.example.edu"
    login(client, doctor_user)
    page = client.get(reverse("appointments:calendar")).content.decode()
    assert 'id="my-feed"' in page and "Create a calendar link" in page
    client.post(reverse("appointments:my_provider_feed"))
    clinic.doctor.refresh_from_db()
    assert clinic.doctor.feed_token
    page = client.get(reverse("appointments:calendar")).content.decode()
    assert f"https://clinic.example.edu/appointments/feeds/{clinic.doctor.feed_token}.ics" in page


def test_front_desk_without_a_provider_profile_sees_no_feed_card(client, clinic, front_desk_user):
    login(client, front_desk_user)
    assert 'id="my-feed"' not in client.get(reverse("appointments:calendar")).content.decode()
