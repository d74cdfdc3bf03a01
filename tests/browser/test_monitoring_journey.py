"""An admin watches the monitor page, makes a backup, verifies it and sees the charts."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _backups_in_tmp(settings, tmp_path):
    settings.BACKUP_DIR = str(tmp_path / "backups")
    settings.BACKUP_OFFSITE = "none"


def test_admin_backs_up_verifies_and_sees_health_charts(page, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from monitoring.models import Backup

    admin = UserFactory(role=Role.ADMIN, email="ops.admin@usc.edu.ph")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    browser_login(page, live_server, admin.email, TEST_PASSWORD, totp_device=device)
    page.wait_for_selector("nav.sidebar")
    page.click("nav.sidebar >> text=Monitor")

    # Every panel loads on its own.
    for name in ("health", "backups", "background", "integrations", "database"):
        page.wait_for_selector(f"#panel-{name} [data-panel={name}]")
    assert page.locator("#health-charts svg.chart").count() == 4
    assert page.locator("#panel-database").inner_text().count("accounts_user") >= 1

    page.click("#backup-start button")
    status = page.locator("#backup-table tbody tr").first.locator(".backup-status")
    status.locator("text=Succeeded").wait_for()
    backup = Backup.objects.get()
    assert backup.status == "succeeded" and backup.size_bytes > 0

    row = page.locator(f"#backup-{backup.pk}")
    row.locator("button:has-text('Verify')").click()
    row.locator(".backup-verification .badge.good").wait_for()
    assert row.locator(".backup-verification .badge.good").inner_text() == "Verified"
    backup.refresh_from_db()
    assert backup.verification_status == "passed"

    # The polled health panel now shows the backup's age.
    page.reload()
    page.wait_for_selector("#panel-health [data-panel=health]")
    assert f"#{backup.pk}" in page.locator("#panel-health").inner_text()
    assert page.locator("#health-charts svg.chart polyline").count() == 4
    assert not page.console_errors, page.console_errors
