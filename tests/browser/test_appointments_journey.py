"""Appointment journeys: book online → email with .ics → check-in → completion → history;
two browsers racing for one slot."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.roles import Role
from appointments.models import Appointment
from tests.appointments.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clinic():
    doctor = UserFactory(
        role=Role.DOCTOR, email="dr.journey@usc.edu.ph", first_name="Jose", last_name="Santos"
    )
    provider = ProviderFactory(user=doctor, hours=[("00:00", "23:55")])
    kind = AppointmentTypeFactory(
        name="Consultation", slug="consultation", duration_minutes=30, lead_time_minutes=60
    )
    return provider, kind


def pick_first_slot(page, live_server, kind):
    page.goto(f"{live_server.url}/appointments/book/")
    page.select_option("select[name=type]", str(kind.pk))
    page.wait_for_selector("#slot-picker .slot label")
    first = page.locator("#slot-picker .slot input").first.get_attribute("value")
    page.locator("#slot-picker .slot label").first.click()
    return first


def test_student_books_gets_ics_is_checked_in_completed_and_sees_history(
    page, new_page, live_server, clinic
):
    provider, kind = clinic
    student = UserFactory(
        role=Role.PATIENT, email="bea.journey@usc.edu.ph", first_name="Bea", last_name="Ramos"
    )
    patient = PatientFactory(user=student, first_name="Bea", last_name="Ramos")
    desk = UserFactory(role=Role.FRONT_DESK, email="desk.journey@usc.edu.ph")
    mail.outbox = []

    browser_login(page, live_server, student.email, TEST_PASSWORD)
    page.wait_for_selector("nav.sidebar")
    pick_first_slot(page, live_server, kind)
    page.fill("textarea[name=reason]", "Cough for three days")
    page.click("main button:has-text('Book appointment')")
    page.wait_for_selector("#appointment-status")
    assert page.locator("#appointment-status").inner_text() == "Booked"
    appointment = Appointment.objects.get(patient=patient)
    assert appointment.reason == "Cough for three days"

    # The confirmation email arrived with an .ics attachment.
    confirmation = [m for m in mail.outbox if student.email in m.to]
    assert confirmation and "Appointment booked" in confirmation[0].subject
    filename, content, mimetype = confirmation[0].attachments[0]
    assert filename.endswith(".ics") and "BEGIN:VEVENT" in (
        content.decode() if isinstance(content, bytes) else content
    )

    # Front desk checks the student in from the queue.
    desk_page = new_page()
    browser_login(desk_page, live_server, desk.email, TEST_PASSWORD)
    desk_page.wait_for_selector("nav.sidebar")
    day = appointment.start.astimezone(
        __import__("appointments.conf", fromlist=["x"]).clinic_tz()
    ).date()
    desk_page.goto(f"{live_server.url}/appointments/queue/?date={day:%Y-%m-%d}")
    row = desk_page.locator(f"#queue-row-{appointment.pk}")
    row.locator("button:has-text('Check in')").click()
    desk_page.wait_for_selector(f"#queue-row-{appointment.pk} .badge:has-text('Checked in')")

    # The doctor starts and completes the consultation.
    doc_page = new_page()
    browser_login(doc_page, live_server, provider.user.email, TEST_PASSWORD)
    doc_page.wait_for_selector("nav.sidebar")
    doc_page.goto(f"{live_server.url}/appointments/{appointment.pk}/")
    doc_page.click("main button:has-text('Start consultation')")
    doc_page.wait_for_selector("#appointment-status:has-text('In consultation')")
    doc_page.click("main button:has-text('Complete')")
    doc_page.wait_for_selector("#appointment-status:has-text('Completed')")
    appointment.refresh_from_db()
    assert appointment.status == "completed" and appointment.visit_id is not None

    # It is in the student's history.
    page.goto(f"{live_server.url}/appointments/my/")
    history = page.locator("#history-table")
    assert "Consultation" in history.inner_text() and "Completed" in history.inner_text()
    assert not page.console_errors, page.console_errors


def test_two_browsers_race_for_the_same_slot(new_page, live_server, clinic):
    _, kind = clinic
    pages = []
    for name in ("ana", "ben"):
        user = UserFactory(role=Role.PATIENT, email=f"{name}.race@usc.edu.ph")
        PatientFactory(user=user)
        tab = new_page()
        browser_login(tab, live_server, user.email, TEST_PASSWORD)
        tab.wait_for_selector("nav.sidebar")
        pages.append(tab)
    chosen = [pick_first_slot(tab, live_server, kind) for tab in pages]
    assert chosen[0] == chosen[1]
    for tab in pages:
        tab.locator("main button:has-text('Book appointment')").click(no_wait_after=True)
    for tab in pages:
        tab.wait_for_selector("#appointment-status, #booking-error")
    outcomes = sorted(
        "won" if tab.locator("#appointment-status").count() else "lost" for tab in pages
    )
    assert outcomes == ["lost", "won"]
    loser = next(tab for tab in pages if tab.locator("#booking-error").count())
    assert "That slot was just taken" in loser.locator("#booking-error").inner_text()
    assert "Next free times" in loser.locator("#booking-error").inner_text()
    assert Appointment.objects.count() == 1
