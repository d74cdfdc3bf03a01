"""TOTP: optional for staff, required for admins; recovery codes."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import AuditEvent
from accounts.roles import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _code(device, drift=0):
    return f"{totp(device.bin_key, drift=drift):06d}"


def test_admin_without_device_is_sent_to_enrolment():
    admin = UserFactory(role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    response = client.get(reverse("accounts:user_list"))
    assert response.status_code == 302 and response["Location"] == reverse(
        "accounts:two_factor_setup"
    )
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
    codes = services.recovery_codes_regenerate(user=user)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("accounts:home"))
    assert (
        response.status_code == 302
        and reverse("accounts:two_factor_verify") in response["Location"]
    )
    assert (
        client.post(reverse("accounts:two_factor_verify"), {"token": codes[0]}).status_code == 302
    )
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


def _verified_client(user, device) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _password_only_client(user) -> Client:
    """Signed in through the login form with the password alone, CSRF enforced."""
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("accounts:login"))
    response = client.post(
        reverse("accounts:login"),
        {
            "username": user.email,
            "password": TEST_PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    return client


def test_staff_can_turn_two_factor_off_with_a_current_code(doctor_user):
    device = TOTPDevice.objects.create(user=doctor_user, name="phone", confirmed=True)
    client = _verified_client(doctor_user, device)
    status = client.get(reverse("accounts:two_factor_setup"))
    assert 'name="disable-code"' in status.content.decode()
    response = client.post(reverse("accounts:two_factor_disable"), {"disable-code": _code(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=doctor_user).exists()
    assert AuditEvent.objects.filter(actor=doctor_user, detail__two_factor="disabled").exists()


@pytest.mark.parametrize("code", ["", "000000"])
def test_turning_two_factor_off_needs_a_valid_current_code(doctor_user, code):
    device = TOTPDevice.objects.create(user=doctor_user, name="phone", confirmed=True)
    client = _verified_client(doctor_user, device)
    response = client.post(reverse("accounts:two_factor_disable"), {"disable-code": code})
    assert response.status_code == 422 and "errorlist" in response.content.decode()
    assert TOTPDevice.objects.filter(user=doctor_user, confirmed=True).exists()


def test_password_alone_cannot_turn_two_factor_off_or_replace_recovery_codes(nurse_user):
    """A password-only session (sent to the code form) gets nowhere near 2FA settings."""
    device = TOTPDevice.objects.create(user=nurse_user, name="phone", confirmed=True)
    codes = set(services.recovery_codes_regenerate(user=nurse_user))
    client = _password_only_client(nurse_user)
    token = client.cookies["csrftoken"].value
    for name in ("two_factor_disable", "two_factor_recovery_codes"):
        response = client.post(
            reverse(f"accounts:{name}"),
            {
                "csrfmiddlewaretoken": token,
                "disable-code": "123456",
                "codes-code": "123456",
            },
        )
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert TOTPDevice.objects.filter(pk=device.pk, confirmed=True).exists()
    assert (
        set(StaticToken.objects.filter(device__user=nurse_user).values_list("token", flat=True))
        == codes
    )
    # The settings page itself is closed too, and the session is still not in.
    for url in (reverse("accounts:two_factor_setup"), reverse("accounts:home")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:two_factor_verify"))


def test_new_recovery_codes_need_a_current_code(nurse_user):
    device = TOTPDevice.objects.create(user=nurse_user, name="phone", confirmed=True)
    old = set(services.recovery_codes_regenerate(user=nurse_user))
    client = _verified_client(nurse_user, device)
    refused = client.post(reverse("accounts:two_factor_recovery_codes"), {"codes-code": "000000"})
    assert refused.status_code == 422
    assert (
        set(StaticToken.objects.filter(device__user=nurse_user).values_list("token", flat=True))
        == old
    )
    time.sleep(1.1)  # a wrong code throttles the device for a second
    ok = client.post(reverse("accounts:two_factor_recovery_codes"), {"codes-code": _code(device)})
    assert ok.status_code == 200 and 'id="recovery-codes"' in ok.content.decode()
    new = set(StaticToken.objects.filter(device__user=nurse_user).values_list("token", flat=True))
    assert len(new) == 10 and not new & old


def test_unverified_session_only_reaches_what_it_needs(nurse_user):
    TOTPDevice.objects.create(user=nurse_user, name="phone", confirmed=True)
    client = Client()
    client.force_login(nurse_user)
    assert client.get(reverse("accounts:two_factor_verify")).status_code == 200
    assert client.get(reverse("accounts:notification_bell")).status_code == 200
    for url in (
        "/accounts/2fa/anything/",
        reverse("accounts:preferences"),
        reverse("accounts:two_factor_setup"),
    ):
        response = client.get(url)
        assert (
            response.status_code == 302
            and reverse("accounts:two_factor_verify") in response["Location"]
        )
    assert client.post(reverse("accounts:logout")).status_code == 302


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
    assert (
        response.status_code == 302
        and reverse("accounts:two_factor_verify") in response["Location"]
    )


def test_enrol_service_refuses_a_wrong_code_and_confirms_a_right_one(doctor_user):
    from django.core.exceptions import ValidationError

    device = services.totp_device_start(user=doctor_user)
    assert services.totp_device_start(user=doctor_user) == device  # one pending device
    with pytest.raises(ValidationError, match="not valid"):
        services.two_factor_enrol(user=doctor_user, device=device, token="000000")
    device.refresh_from_db()
    assert not device.confirmed and device.throttling_failure_count == 1
    time.sleep(1.1)  # the wrong code throttles the device for a second
    codes = services.two_factor_enrol(user=doctor_user, device=device, token=_code(device))
    device.refresh_from_db()
    assert device.confirmed and len(codes) == 10
    assert set(
        StaticToken.objects.filter(device__user=doctor_user).values_list("token", flat=True)
    ) == set(codes)
    assert AuditEvent.objects.filter(actor=doctor_user, detail__two_factor="enrolled").count() == 1


def test_disable_service_removes_every_device_but_not_for_admins(doctor_user, admin_user):
    from django.core.exceptions import ValidationError

    TOTPDevice.objects.create(user=doctor_user, name="phone", confirmed=True)
    services.recovery_codes_regenerate(user=doctor_user)
    services.two_factor_disable(user=doctor_user)
    assert not TOTPDevice.objects.filter(user=doctor_user).exists()
    assert not StaticToken.objects.filter(device__user=doctor_user).exists()
    assert AuditEvent.objects.filter(actor=doctor_user, detail__two_factor="disabled").count() == 1
    TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    with pytest.raises(ValidationError):
        services.two_factor_disable(user=admin_user)
    assert TOTPDevice.objects.filter(user=admin_user).exists()


def test_a_verified_session_reads_its_device_again_on_every_page(client_for, admin_user):
    """The device behind a verified session is read on each request (one compiled
    statement): deleted or unconfirmed since, the session is no longer verified."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)  # verified with a confirmed TOTP device
    page = reverse("accounts:user_list")
    assert client.get(page).status_code == 200
    with CaptureQueriesContext(connection) as seen:
        assert client.get(page).status_code == 200
    device_reads = [q for q in seen.captured_queries if "otp_totp_totpdevice" in q["sql"]]
    assert len(device_reads) == 1

    TOTPDevice.objects.filter(user=admin_user).update(confirmed=False)
    assert client.get(page)["Location"] == reverse("accounts:two_factor_setup")
    TOTPDevice.objects.filter(user=admin_user).update(confirmed=True)
    assert client.get(page).status_code == 302  # the session lost its verification

    other = UserFactory(role=Role.ADMIN)
    foreign = TOTPDevice.objects.create(user=other, name="theirs", confirmed=True)
    session = client.session
    session["otp_device_id"] = foreign.persistent_id
    session.save()
    assert client.get(page).status_code == 302  # another user's device verifies nothing
    for broken in ["otp_totp.totpdevice/x", "nope.model/1", "otp_totp.totpdevice/" + "9" * 30]:
        session["otp_device_id"] = broken
        session.save()
        assert client.get(page).status_code == 302
