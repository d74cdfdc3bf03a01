"""An admin adds leave over booked time: the affected appointments are listed with the next
free times, one is moved and one cancelled, and the patients are told (issue #11).

With ``USCPIS_SCREENSHOTS=<dir>`` the review list is also saved at laptop and phone width."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.roles import Role
from appointments.models import Appointment, AvailabilityException
from tests.appointments.conftest import local
from tests.appointments.factories import AppointmentFactory, AppointmentTypeFactory, ProviderFactory
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _shoot(page, name: str) -> None:
    folder = os.environ.get("USCPIS_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, width, height in (("laptop", 1366, 860), ("phone", 390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)  # let the sidebar finish sliding away at phone width
        page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})


def test_admin_adds_leave_moving_one_booking_and_cancelling_another(page, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin = UserFactory(role=Role.ADMIN, email="leave.admin@usc.edu.ph")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    doctor = UserFactory(role=Role.DOCTOR, first_name="Jose", last_name="Santos")
    provider = ProviderFactory(user=doctor)
    kind = AppointmentTypeFactory(name="Consultation", duration_minutes=30, buffer_minutes=10)
    day = timezone.localdate() + timedelta(days=1)
    moved = AppointmentFactory(
        provider=provider,
        appointment_type=kind,
        patient=PatientFactory(first_name="Maria", last_name="Reyes"),
        start=local(day, "09:00"),
    )
    cancelled = AppointmentFactory(
        provider=provider,
        appointment_type=kind,
        patient=PatientFactory(first_name="Juan", last_name="Cruz"),
        start=local(day, "10:40"),
    )

    browser_login(page, live_server, admin.email, TEST_PASSWORD, totp_device=device)
    page.wait_for_selector("nav.sidebar")
    page.goto(f"{live_server.url}/appointments/schedules/{provider.pk}/")
    form = page.locator("form:has(input[name=form][value=exception]):has(select[name=kind])")
    form.locator("select[name=kind]").select_option("leave")
    form.locator("input[name=note]").fill("Medical conference")
    form.locator("input[name=starts_at]").fill(f"{day:%Y-%m-%d}T08:00")
    form.locator("input[name=ends_at]").fill(f"{day:%Y-%m-%d}T12:00")
    form.locator("button[type=submit]").click()

    page.wait_for_selector("#affected-form")
    first = page.locator(f"select[name=move_{moved.pk}]")
    second = page.locator(f"select[name=move_{cancelled.pk}]")
    assert "12:00 PM" in first.locator("option:checked").inner_text()
    assert "12:40 PM" in second.locator("option:checked").inner_text()
    _shoot(page, "leave-affected")
    second.select_option("cancel")
    page.click("#affected-form button[type=submit]")

    page.wait_for_selector("text=1 appointment(s) moved and 1 cancelled")
    moved.refresh_from_db()
    cancelled.refresh_from_db()
    assert moved.start == local(day, "12:00") and moved.status == "booked"
    assert cancelled.status == "cancelled"
    assert AvailabilityException.objects.filter(provider=provider, kind="leave").exists()
    assert Appointment.objects.filter(provider=provider, status="booked").count() == 1
    # The review answer is a 409 page on purpose (nothing changed yet); nothing else failed.
    errors = [e for e in page.console_errors if "409 (Conflict)" not in e]
    assert not errors, errors
