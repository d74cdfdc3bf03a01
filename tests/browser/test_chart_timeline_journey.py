"""The chart timeline in a browser: the newest 20 visits, then "Show older visits" appends the
next 20 in place (HTMX) until the whole history is on the page (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from patients.models import Visit
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_doctor_loads_the_whole_history_in_place(page, live_server):
    doctor = UserFactory(role=Role.DOCTOR, email="doctor.tl@usc.edu.ph")
    patient = PatientFactory(first_name="Hist", last_name="Ory")
    now = timezone.now()
    Visit.objects.bulk_create(
        [
            Visit(
                patient=patient,
                kind="medical",
                provider=doctor,
                started_at=now - timedelta(days=i),
                chief_complaint=f"complaint number {i:02d}",
            )
            for i in range(45)
        ]
    )
    browser_login(page, live_server, doctor.email, TEST_PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    items = page.locator("#timeline li.timeline-item")
    assert items.count() == 20
    page.click("#timeline a:has-text('Show older visits')")
    items.nth(39).wait_for()  # (the strict CSP rules out wait_for_function)
    assert items.count() == 40
    assert page.url.endswith(f"/patients/{patient.pk}/")  # appended in place, same page
    page.click("#timeline a:has-text('Show older visits')")
    items.nth(44).wait_for()
    assert items.count() == 45
    assert page.locator("#timeline a:has-text('Show older visits')").count() == 0
    texts = items.all_inner_texts()
    assert "complaint number 00" in texts[0] and "complaint number 44" in texts[-1]
    assert len(set(texts)) == 45  # each visit once
    assert page.console_errors == []
