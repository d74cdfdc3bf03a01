"""API tokens journey (issue 13): a doctor creates a token on the API tokens page, the token
works for real HTTP requests (REST and FHIR) from this test, the doctor revokes it on the
page and the same requests are refused."""

from __future__ import annotations

import pytest
import requests

from accounts.roles import Role
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_doctor_creates_uses_and_revokes_a_token(page, live_server, settings):
    settings.API_RATE_USER = "10000/min"
    UserFactory(role=Role.DOCTOR, email="ana.doctor@usc.edu.ph", first_name="Ana", last_name="Cruz")
    patient = PatientFactory(first_name="Bea", last_name="Ramos", id_number="2026-00077")
    browser_login(page, live_server, "ana.doctor@usc.edu.ph", TEST_PASSWORD)

    page.goto(f"{live_server.url}/accounts/api-tokens/")
    page.fill("input[name=name]", "Lab system sync")
    page.select_option("select[name=scope]", "read")
    page.click("#token-form button[type=submit]")
    secret = page.inner_text("#token-secret").strip()
    assert secret.startswith("uscpis_")
    assert "Lab system sync" in page.inner_text("#token-table")

    headers = {"Authorization": f"Token {secret}"}
    r = requests.get(
        f"{live_server.url}/api/v1/patients/", params={"q": "ramos"}, headers=headers, timeout=10
    )
    assert r.status_code == 200
    assert [p["id_number"] for p in r.json()["results"]] == ["2026-00077"]
    r = requests.get(f"{live_server.url}/fhir/R4/Patient/{patient.pk}", headers=headers, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/fhir+json")
    assert r.json()["name"][0]["family"] == "Ramos"
    # A read-only token cannot write.
    r = requests.patch(
        f"{live_server.url}/api/v1/patients/{patient.pk}/",
        json={"phone": "1"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 403

    page.goto(f"{live_server.url}/accounts/api-tokens/")
    assert not page.query_selector("#token-secret")  # shown once only
    assert "Never" not in page.inner_text("#token-table")  # last use now shown
    page.once("dialog", lambda d: d.accept())
    page.click("#token-table button:has-text('Revoke')")
    page.wait_for_selector("text=no longer works")
    assert "You have no API tokens." in page.inner_text("#token-table")

    r = requests.get(f"{live_server.url}/api/v1/patients/", headers=headers, timeout=10)
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    r = requests.get(f"{live_server.url}/fhir/R4/Patient/{patient.pk}", headers=headers, timeout=10)
    assert r.status_code == 401
