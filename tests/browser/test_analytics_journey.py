"""Analytics journey (issue 14): the administrator opens the overview, filters by college,
opens surveillance and sees the seeded dengue signal, exports the weekly report CSV, and
opens the forecasts with their backtest error. No CSP violation on the way."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.roles import Role
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_overview_filter_surveillance_csv_forecasts(page, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    call_command("seed_demo", stdout=io.StringIO())
    admin = UserFactory(role=Role.ADMIN, email="director.admin@usc.edu.ph", first_name="Mara")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    browser_login(page, live_server, admin.email, TEST_PASSWORD, totp_device=device)

    # 1. The overview: headline figures and the weekly chart with last year.
    page.goto(f"{live_server.url}/analytics/")
    page.wait_for_selector("text=Visits this week")
    assert page.locator(".stat").count() >= 7
    assert page.locator("#visits-weekly svg polyline").count() == 2

    # 2. Filter by college (HTMX swaps the dashboard body and keeps the URL shareable).
    page.select_option("select[name=unit]", "School of Engineering")
    page.click("form.analytics-filters button[type=submit]")
    page.wait_for_url("**unit=School*Engineering*")
    assert page.locator("#visits-weekly svg").count() == 1  # the swapped body, not the whole page
    page.reload()
    assert "college/department: School of Engineering" in page.inner_text(".page-header")

    # 3. Surveillance: the seeded dengue outbreak is flagged, with its chart and threshold.
    page.click("nav.tabs a:has-text('Surveillance')")
    page.wait_for_selector("#signals")
    signals = page.inner_text("#signals")
    assert "Dengue" in signals and "C" in signals
    page.click("#signals tr:has-text('Dengue') a:has-text('Chart')")
    page.wait_for_selector("svg[aria-label^='Dengue: cases per day']")
    assert page.locator("svg[aria-label^='Dengue: cases per day'] polyline").count() == 2

    # 4. The weekly notifiable-disease report as CSV.
    with page.expect_download() as download:
        page.click("#weekly-report-csv")
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("Disease / syndrome,ICD-10 codes,MW") and "Dengue" in content

    # 5. Forecasts with their backtest error beside the seasonal-naive baseline's.
    page.click("nav.tabs a:has-text('Forecasts')")
    page.wait_for_selector("#backtest-all")
    backtest = page.inner_text("#backtest-all")
    assert "Holt-Winters" in backtest and "Seasonal naive" in backtest and "%" in backtest
    assert page.locator("#forecast-all-week svg path.band").count() == 1

    assert not [e for e in page.console_errors if "Content Security Policy" in e], (
        page.console_errors
    )
