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


def test_admin_restores_a_backup_and_watches_the_progress(page, live_server, monkeypatch):
    """The confirm form queues the restore; the panel polls until the report is in.

    Browser tests run Celery eagerly, which would restore inside the POST and skip the
    polling; here a thread plays the worker (a moment later), so the page really polls.
    """
    import threading
    import time

    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from monitoring import tasks
    from monitoring.backups import create, jobs
    from monitoring.models import Backup

    admin = UserFactory(role=Role.ADMIN, email="restore.admin@usc.edu.ph")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    backup = create.backup_create(actor=admin)
    UserFactory(role=Role.NURSE, email="added.after.backup@usc.edu.ph")
    workers: list[threading.Thread] = []

    def worker_picks_up(*args, kwargs, **options):  # what the outbox relay publishes
        job_id = kwargs["job_id"]

        def run():
            from django.db import connection

            try:
                time.sleep(1.5)
                tasks.run_restore(job_id=job_id)
            finally:
                connection.close()

        workers.append(threading.Thread(target=run))
        workers[-1].start()

    monkeypatch.setattr(tasks.run_restore, "apply_async", worker_picks_up)
    from django.core.cache import cache

    cache.delete(jobs.RESTORE_LOCK_KEY)  # the cache outlives tests

    browser_login(page, live_server, admin.email, TEST_PASSWORD, totp_device=device)
    page.wait_for_selector("nav.sidebar")
    page.goto(f"{live_server.url}/monitoring/")
    page.locator(f"#backup-{backup.pk} a:has-text('Restore')").click()
    page.fill("input[name=confirmation]", f"RESTORE {backup.pk}")
    page.click("#restore-form button[type=submit]")

    # The progress panel replaces the form at once, and the address follows the job.
    page.wait_for_selector("#restore-panel progress")
    assert page.locator("#restore-panel").get_attribute("data-status") in ("queued", "running")
    assert "/monitoring/restores/" in page.url
    page.wait_for_selector("#restore-report", timeout=60_000)
    for thread in workers:
        thread.join(timeout=60)
    assert page.locator("#restore-panel").get_attribute("data-status") == "done"
    safety = Backup.objects.get(kind="safety")
    assert f"Safety backup #{safety.pk}" in page.locator("#restore-report").inner_text()
    assert not User.objects.filter(email="added.after.backup@usc.edu.ph").exists()
    # Reloading the job's address shows the report again (a full page).
    page.reload()
    page.wait_for_selector("#restore-report")
    assert not page.console_errors, page.console_errors
