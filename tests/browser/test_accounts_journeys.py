"""Foundation journeys: each role signs in and sees its navigation; lockout; admin TOTP."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.roles import Role
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMIN])
def test_each_role_signs_in_and_sees_its_navigation(page, live_server, role):
    user = UserFactory(role=role, email=f"{role}@usc.edu.ph")
    browser_login(page, live_server, user.email, TEST_PASSWORD)
    page.wait_for_selector("nav.sidebar")
    labels = set(page.locator("nav.sidebar a").all_inner_texts())
    assert "Home" in labels
    # Only administrators see user management and the audit trail.
    assert "Users" not in labels and "Audit trail" not in labels
    assert page.locator(".user-menu summary").inner_text().strip().endswith(user.full_name)
    assert not page.console_errors, page.console_errors


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failed_logins_lock_the_account(page, live_server):
    user = UserFactory(role=Role.NURSE, email="locked@usc.edu.ph")
    for _ in range(3):
        browser_login(page, live_server, user.email, "wrong-password-123")
    assert page.locator("#locked-out").is_visible()
    # The right password is refused while locked.
    browser_login(page, live_server, user.email, TEST_PASSWORD)
    assert page.locator("#locked-out").is_visible()
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url


def test_admin_enrols_totp_then_signs_in_with_a_code(page, live_server):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin = UserFactory(role=Role.ADMIN, email="boss@usc.edu.ph")
    browser_login(page, live_server, admin.email, TEST_PASSWORD)
    # Admins are sent to enrolment before anything else.
    page.wait_for_selector("#totp-qr svg")
    assert "/accounts/2fa/" in page.url
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    page.fill("input[name=token]", f"{totp(device.bin_key):06d}")
    page.click("main button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes span").count() == 10
    page.click("text=I saved them")
    labels = set(page.locator("nav.sidebar a").all_inner_texts())
    assert {"Users", "Audit trail"} <= labels

    # Sign out, sign in again: a code is now required.
    page.click(".user-menu summary")
    page.click("text=Sign out")
    device.refresh_from_db()
    browser_login(page, live_server, admin.email, TEST_PASSWORD)
    page.wait_for_selector("input[name=token]")
    page.fill("input[name=token]", "000000")
    page.click("text=Verify")
    assert page.locator(".errorlist").inner_text().strip() == "That code is not valid."
    # A TOTP code is accepted once per time step, so sign in with the next step's code
    # (within the device's allowed drift) rather than replaying the enrolment code.
    device.refresh_from_db()
    code = totp(device.bin_key, drift=1)
    # django-otp throttles for 1 s after a wrong code (2 s after two); wait out either.
    page.wait_for_timeout(2200)
    page.fill("input[name=token]", f"{code:06d}")
    page.click("text=Verify")
    page.wait_for_selector("nav.sidebar")
    assert "Audit trail" in page.locator("nav.sidebar").inner_text()
