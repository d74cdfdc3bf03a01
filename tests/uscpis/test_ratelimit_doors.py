"""The public doors answer 429 (with Retry-After) past their limits."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_password_reset_sends_at_most_three_emails_to_one_mailbox(client, patient_user, settings):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "password_reset": {"ip": "100/h", "account": "3/h"},
    }
    url = reverse("accounts:password_reset")
    statuses = [
        client.post(url, {"email": patient_user.email}, REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i in range(10)
    ]
    assert statuses[:3] == [302, 302, 302]
    assert set(statuses[3:]) == {429}
    assert len(mail.outbox) == 3
    response = client.post(url, {"email": patient_user.email})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many attempts" in response.content


def test_password_reset_per_address(client, settings):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "password_reset": {"ip": "5/h", "account": "3/h"},
    }
    url = reverse("accounts:password_reset")
    statuses = [client.post(url, {"email": f"x{i}@usc.edu.ph"}).status_code for i in range(7)]
    assert statuses.count(429) == 2


def test_signup_is_limited_per_address(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": {"ip": "10/h", "account": "3/h"}}
    url = reverse("patients:signup")
    statuses = [client.post(url, {"email": f"n{i}@usc.edu.ph"}).status_code for i in range(12)]
    assert 429 not in statuses[:10]
    assert statuses[10:] == [429, 429]


def test_certificate_verification_guesses_are_limited(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "certificate_verify": {"ip": "30/h"}}
    statuses = [
        client.get(reverse("patients:verify_certificate", args=[f"GUESS{i:05d}"])).status_code
        for i in range(35)
    ]
    assert 429 not in statuses[:30]
    assert set(statuses[30:]) == {429}


def test_login_by_address_beyond_the_lockout(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": {"ip": "30/15m"}}
    settings.AXES_FAILURE_LIMIT = 1000  # show the limiter on its own, whatever axes does
    url = reverse("accounts:login")
    statuses = [
        client.post(
            url, {"username": f"spray{i}@usc.edu.ph", "password": "wrong-password-1"}
        ).status_code
        for i in range(31)
    ]
    assert 429 not in statuses[:30]
    assert statuses[30] == 429
    assert "Retry-After" in client.post(url, {"username": "a@usc.edu.ph", "password": "b"})
    # another address still signs in
    other = client.post(
        url, {"username": "x@usc.edu.ph", "password": "y"}, REMOTE_ADDR="192.0.2.50"
    )
    assert other.status_code != 429


def test_online_booking_posts_are_limited_per_patient(client, patient_user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "booking": {"ip": "100/h", "account": "10/h"}}
    login(client, patient_user)
    url = reverse("appointments:book")
    statuses = [client.post(url, {"slot": "nonsense"}).status_code for _ in range(12)]
    assert 429 not in statuses[:10]
    assert statuses[10:] == [429, 429]
