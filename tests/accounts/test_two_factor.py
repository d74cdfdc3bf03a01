"""TOTP: optional for staff, required for admins; recovery codes."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _code(device, drift=0):
    return f"{totp(device.bin_key, drift=drift):06d}"


def test_admin_without_device_is_sent_to_enrolment():
    admin = UserFactory(role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    response = client.get(reverse("accounts:user_list"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:two_factor_setup")
    page = client.get(reverse("accounts:two_factor_setup"))
    assert page.status_code == 200 and b"<svg" in page.content


def test_enrolment_confirms_device_and_shows_ten_recovery_codes():
    user = UserFactory(role=Role.DOCTOR)
    client = Client()
    client.force_login(user)
    client.get(reverse("accounts:two_factor_setup"))
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    bad = client.post(reverse("accounts:two_factor_setup"), {"token": "123456"})
    assert "not valid" in bad.content.decode()
    # Straight after a wrong code the device is throttled (brute-force defence)...
    throttled = client.post(reverse("accounts:two_factor_setup"), {"token": _code(device)})
    assert "wait a few seconds" in throttled.content.decode()
    time.sleep(1.1)  # ...for one second after the first failure
    ok = client.post(reverse("accounts:two_factor_setup"), {"token": _code(device)})
    assert ok.status_code == 200 and 'id="recovery-codes"' in ok.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert StaticToken.objects.filter(device__user=user).count() == 10


def test_staff_with_device_must_verify_and_recovery_code_works_once():
    user = UserFactory(role=Role.NURSE)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    from accounts.views import _new_recovery_codes

    codes = _new_recovery_codes(user)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 302 and reverse("accounts:two_factor_verify") in response["Location"]
    assert client.post(reverse("accounts:two_factor_verify"), {"token": codes[0]}).status_code == 302
    assert client.get(reverse("accounts:home")).status_code == 200
    # The same recovery code does not work a second time.
    other = Client()
    other.force_login(user)
    again = other.post(reverse("accounts:two_factor_verify"), {"token": codes[0]})
    assert again.status_code == 200 and "not valid" in again.content.decode()
    assert device.pk


def test_next_parameter_cannot_redirect_off_site():
    user = UserFactory(role=Role.NURSE)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("accounts:two_factor_verify") + "?next=https://evil.example/",
        {"token": _code(device)},
    )
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")


def test_admin_cannot_turn_two_factor_off(client_for, admin_user):
    client = client_for(admin_user)
    client.post(reverse("accounts:two_factor_disable"))
    assert TOTPDevice.objects.filter(user=admin_user, confirmed=True).exists()


def test_staff_can_turn_two_factor_off(client_for, doctor_user):
    TOTPDevice.objects.create(user=doctor_user, name="phone", confirmed=True)
    client = Client()
    client.force_login(doctor_user)
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=doctor_user).persistent_id
    session.save()
    client.post(reverse("accounts:two_factor_disable"))
    assert not TOTPDevice.objects.filter(user=doctor_user).exists()


def test_device_enrolled_elsewhere_is_enforced_after_the_recheck_window(client_for, nurse_user):
    from accounts.middleware import HAS_DEVICE_KEY, HAS_DEVICE_RECHECK_SECONDS

    client = client_for(nurse_user)
    assert client.get(reverse("accounts:home")).status_code == 200
    TOTPDevice.objects.create(user=nurse_user, name="phone", confirmed=True)  # from another session
    session = client.session
    has_device, checked_at = session[HAS_DEVICE_KEY]
    assert has_device is False
    session[HAS_DEVICE_KEY] = [False, checked_at - HAS_DEVICE_RECHECK_SECONDS - 1]
    session.save()
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 302 and reverse("accounts:two_factor_verify") in response["Location"]
