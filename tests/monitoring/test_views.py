"""The monitor page: permissions, panels that fail on their own, backup actions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from monitoring.backups import create
from monitoring.models import Backup, BackupStatus, VerificationStatus
from tests.monitoring.factories import BackupFactory

HX = {"HTTP_HX_REQUEST": "true"}
MONITOR = reverse("monitoring:monitor")


def panel_url(name: str) -> str:
    return reverse("monitoring:panel", args=[name])


@pytest.mark.django_db
def test_only_admins_see_the_monitor(client_for, admin_user, user_for_role):
    assert client_for(admin_user).get(MONITOR).status_code == 200
    for role in Role:
        if role != Role.ADMIN:
            assert client_for(user_for_role(role)).get(MONITOR).status_code == 403, role
            assert (
                client_for(user_for_role(role)).get(panel_url("database"), **HX).status_code == 403
            )
    anonymous = Client().get(MONITOR)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_page_shell_loads_each_panel_by_polling(client_for, admin_user):
    html = client_for(admin_user).get(MONITOR).content.decode()
    for name in ("health", "database", "background", "integrations", "backups"):
        assert f'id="panel-{name}"' in html
        assert f'hx-get="{panel_url(name)}"' in html
    assert html.count('hx-trigger="load, every 15s"') == 5
    assert html.count("X-Poll") >= 5


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["health", "database", "background", "integrations", "backups"])
def test_each_panel_renders_as_a_fragment_and_as_a_page(client_for, admin_user, name):
    client = client_for(admin_user)
    fragment = client.get(panel_url(name), **HX)
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert f'data-panel="{name}"' in body and "<html" not in body
    page = client.get(panel_url(name))
    assert page.status_code == 200 and "<html" in page.content.decode()


@pytest.mark.django_db
def test_unknown_panel_is_404(client_for, admin_user):
    assert client_for(admin_user).get(panel_url("secrets"), **HX).status_code == 404


@pytest.mark.django_db
def test_database_panel_shows_tables_and_marks_missing_pg_stat_statements(client_for, admin_user):
    body = client_for(admin_user).get(panel_url("database"), **HX).content.decode()
    from django.db import connection

    with connection.cursor() as cursor:  # whichever table is largest in this test database
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC LIMIT 1"
        )
        largest = cursor.fetchone()[0]
    assert f'<td class="mono">{largest}</td>' in body and "Cache hit ratio" in body
    from monitoring.selectors import slow_statements

    statements = slow_statements()
    if statements["available"]:
        assert "Slowest statements" in body and "statements-unavailable" not in body
    else:
        assert 'id="statements-unavailable"' in body and statements["reason"] in body


@pytest.mark.django_db
def test_broker_down_turns_only_the_background_panel_red(client_for, admin_user, broker_down):
    client = client_for(admin_user)
    body = client.get(panel_url("background"), **HX).content.decode()
    assert "panel-bad" in body and "Broker unreachable" in body
    for name in ("database", "integrations", "backups"):
        other = client.get(panel_url(name), **HX)
        assert other.status_code == 200 and "panel-bad" not in other.content.decode(), name
    assert client.get(MONITOR).status_code == 200
    assert client.get(panel_url("health"), **HX).status_code == 200


@pytest.mark.django_db
def test_no_worker_turns_the_background_panel_red(client_for, admin_user, no_worker_heartbeat):
    body = client_for(admin_user).get(panel_url("background"), **HX).content.decode()
    assert "panel-bad" in body and "No worker answered" in body
    assert "Broker unreachable" not in body


@pytest.mark.django_db
def test_worker_heartbeat_counts_as_alive(client_for, admin_user, no_worker_heartbeat):
    from monitoring.tasks import heartbeat

    heartbeat()
    body = client_for(admin_user).get(panel_url("background"), **HX).content.decode()
    assert "No worker answered" not in body and "heartbeat" in body


@pytest.mark.django_db
def test_failed_tasks_are_recorded_and_listed(client_for, admin_user):
    from celery import shared_task

    @shared_task(name="tests.monitoring.exploding")
    def exploding():
        raise RuntimeError("printer on fire")

    result = exploding.apply(throw=False)  # as a worker runs it: failure handled, signal sent
    assert result.failed()
    body = client_for(admin_user).get(panel_url("background"), **HX).content.decode()
    assert "tests.monitoring.exploding" in body and "printer on fire" in body


@pytest.mark.django_db
def test_integrations_panel_hides_secrets_and_sends_a_test_email(
    client_for, admin_user, settings, mailoutbox
):
    settings.CLOUDINARY_URL = "cloudinary://key:topsecret@cloud"
    client = client_for(admin_user)
    body = client.get(panel_url("integrations"), **HX).content.decode()
    assert "topsecret" not in body and "EmailBackend" in body
    response = client.post(reverse("monitoring:test_email"), **HX)
    assert response.status_code == 200 and "Test email sent" in response.content.decode()
    assert [m.to for m in mailoutbox] == [[admin_user.email]]


@pytest.mark.django_db
def test_health_panel_shows_request_charts(client_for, admin_user):
    client = client_for(admin_user)
    client.get(MONITOR)
    from monitoring import metrics

    metrics.flush()
    body = client.get(panel_url("health"), **HX).content.decode()
    assert body.count('<svg class="chart"') == 4
    assert "Requests per minute" in body and "p95 latency" in body and "Disk space" in body


@pytest.mark.django_db(transaction=True)
def test_admin_starts_a_backup_and_verifies_it(client_for, admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("monitoring:backup_start"), {"with_media": "on"}, **HX)
    assert response.status_code == 200
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.SUCCEEDED and backup.with_media
    assert f'id="backup-{backup.pk}"' in response.content.decode()
    response = client.post(reverse("monitoring:backup_verify", args=[backup.pk]), **HX)
    assert response.status_code == 200
    backup.refresh_from_db()
    assert backup.verification_status == VerificationStatus.PASSED


@pytest.mark.django_db
def test_backup_in_progress_is_polled(client_for, admin_user):
    BackupFactory(status=BackupStatus.RUNNING, checksum="", progress=40, progress_message="Dumping")
    body = client_for(admin_user).get(panel_url("backups"), **HX).content.decode()
    assert 'id="backup-progress-poll"' in body and 'hx-trigger="every 2s"' in body
    assert '<progress max="100" value="40"' in body


@pytest.mark.django_db
def test_start_is_refused_while_a_backup_runs(client_for, admin_user):
    BackupFactory(status=BackupStatus.PENDING, checksum="")
    response = client_for(admin_user).post(reverse("monitoring:backup_start"), **HX)
    assert response.status_code == 409 and "already" in response.content.decode()
    assert Backup.objects.count() == 1


@pytest.mark.django_db
def test_non_admins_cannot_start_verify_or_download(client_for, user_for_role):
    backup = BackupFactory()
    for role in (Role.DOCTOR, Role.NURSE, Role.BILLING_CLERK, Role.PATIENT):
        client = client_for(user_for_role(role))
        assert client.post(reverse("monitoring:backup_start")).status_code == 403
        assert client.post(reverse("monitoring:backup_verify", args=[backup.pk])).status_code == 403
        assert (
            client.get(
                reverse("monitoring:backup_download", args=[backup.pk, "database"])
            ).status_code
            == 403
        )
        assert client.get(reverse("monitoring:backup_restore", args=[backup.pk])).status_code == 403
    assert Backup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_download_is_audited(client_for, admin_user):
    from django_otp.plugins.otp_static.models import StaticDevice

    backup = create.backup_create(actor=admin_user)
    StaticDevice.objects.create(user=admin_user, name="Recovery codes").token_set.create(
        token="fresh123"
    )
    client = client_for(admin_user)
    url = reverse("monitoring:backup_download", args=[backup.pk, "database"])
    # A full dump is a PHI export: a verified session is not enough, a fresh code is asked.
    page = client.get(url)
    assert page.status_code == 200 and b"authenticator" in page.content
    assert not AuditEvent.objects.filter(action="export").exists()
    wrong = client.post(url, {"code": "000000"})
    assert wrong.status_code == 422
    assert AuditEvent.objects.filter(action="denied", object_id=str(backup.pk)).exists()
    for device in StaticDevice.objects.filter(user=admin_user):
        device.throttle_reset()  # django-otp slows down retries after a wrong code
    assert client.post(url, {"code": "fresh123"}).status_code == 302
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"PGDMP")
    event = AuditEvent.objects.filter(action="export", object_id=str(backup.pk)).get()
    assert event.actor == admin_user and event.detail == {"backup_file": "database"}
    assert (
        client.get(reverse("monitoring:backup_download", args=[backup.pk, "secret"])).status_code
        == 404
    )
    assert (
        client_for(admin_user)
        .get(reverse("monitoring:backup_download", args=[999999, "database"]))
        .status_code
        == 404
    )


@pytest.mark.django_db
def test_restore_needs_a_two_factor_verified_session(admin_user):
    backup = BackupFactory()
    client = Client()
    client.force_login(admin_user)  # signed in, but not verified with a code
    response = client.get(reverse("monitoring:backup_restore", args=[backup.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/")
    assert "Restore backup" not in response.content.decode()
    # Even if the two-factor gate were bypassed, the view itself refuses.
    from django.test import RequestFactory

    from monitoring.views import backup_restore

    request = RequestFactory().get("/")
    request.user = admin_user
    admin_user.is_verified = lambda: False
    request.htmx = False
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        backup_restore(request, pk=backup.pk)


@pytest.mark.django_db
def test_restore_with_the_wrong_phrase_changes_nothing(client_for, admin_user):
    backup = BackupFactory()
    client = client_for(admin_user)
    assert client.get(reverse("monitoring:backup_restore", args=[backup.pk])).status_code == 200
    response = client.post(
        reverse("monitoring:backup_restore", args=[backup.pk]), {"confirmation": "restore"}
    )
    assert response.status_code == 422 and "does not match" in response.content.decode()
    assert Backup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_verified_admin_restores_with_the_typed_phrase(client_for, admin_user):
    """End to end with the worker inline (eager): queued, run, then the job page reports."""
    from tests.factories import UserFactory

    client = client_for(admin_user)  # enrols the admin's two-factor device before the backup
    backup = create.backup_create(actor=admin_user)
    UserFactory(email="created.after@usc.edu.ph")
    response = client.post(
        reverse("monitoring:backup_restore", args=[backup.pk]),
        {"confirmation": f"RESTORE {backup.pk}"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith("/monitoring/restores/")
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'id="restore-report"' in page.content.decode()
    from accounts.models import User

    assert not User.objects.filter(email="created.after@usc.edu.ph").exists()
    # The admin is still signed in afterwards.
    assert client.get(MONITOR).status_code == 200


@pytest.mark.django_db
def test_dashboard_cards_for_admins_only(admin_user, nurse_user):
    from monitoring.dashboard import cards

    titles = [c.title for c in cards(admin_user)]
    assert titles == ["Last good backup", "Open incidents"]
    assert cards(nurse_user) == []
    BackupFactory(verification_status=VerificationStatus.PASSED)
    assert cards(admin_user)[0].tone == "good"


@pytest.mark.django_db
def test_monitor_page_query_count_does_not_grow_with_backups(
    client_for, admin_user, django_assert_max_num_queries
):
    client = client_for(admin_user)
    BackupFactory.create_batch(2)
    with django_assert_max_num_queries(12):
        client.get(panel_url("backups"), **HX)
    BackupFactory.create_batch(15)
    with django_assert_max_num_queries(12):
        client.get(panel_url("backups"), **HX)


@pytest.mark.django_db
def test_a_failed_backup_cannot_be_restored(client_for, admin_user):
    backup = BackupFactory(status=BackupStatus.FAILED, checksum="")
    client = client_for(admin_user)
    page = client.get(reverse("monitoring:backup_restore", args=[backup.pk]))
    assert page.status_code == 200 and "cannot be restored" in page.content.decode()
    assert 'id="restore-form"' not in page.content.decode()
    posted = client.post(
        reverse("monitoring:backup_restore", args=[backup.pk]),
        {"confirmation": f"RESTORE {backup.pk}"},
    )
    assert posted.status_code == 409
