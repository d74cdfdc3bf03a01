"""Incidents: one alert per incident, a recovery message, and request metrics."""

from __future__ import annotations

import pytest

from accounts.models import Notification
from monitoring import metrics
from monitoring.models import Incident
from monitoring.services import incidents


@pytest.mark.django_db
def test_incident_alerts_once_and_sends_recovery(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incidents.health_check_run({"database": None, "broker": "ConnectionRefused", "disk": None})
        incidents.health_check_run({"database": None, "broker": "ConnectionRefused", "disk": None})
    assert Incident.objects.filter(kind="broker", resolved_at__isnull=True).count() == 1
    assert [m.subject for m in mailoutbox] == ["[USC-PIS] Problem: Broker unreachable"]
    with django_capture_on_commit_callbacks(execute=True):
        outcome = incidents.health_check_run({"database": None, "broker": None, "disk": None})
    assert outcome["broker"] == "resolved"
    assert [m.subject for m in mailoutbox][-1] == "[USC-PIS] Recovered: Broker unreachable"
    assert Incident.objects.get(kind="broker").resolved_at is not None
    # A new outage opens a new incident.
    with django_capture_on_commit_callbacks(execute=True):
        incidents.health_check_run({"database": None, "broker": "down again"})
    assert Incident.objects.filter(kind="broker").count() == 2


@pytest.mark.django_db
def test_database_outage_is_tracked_in_the_cache_then_recorded(
    admin_user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    cache.delete(incidents.DB_DOWN_KEY)
    cache.delete(incidents.ADMIN_EMAILS_KEY)
    settings.ADMINS_EMAILS = ["ops@usc.edu.ph"]
    incidents.health_check_run({"database": "OperationalError: connection refused"})
    incidents.health_check_run({"database": "OperationalError: connection refused"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ops@usc.edu.ph"]
    with django_capture_on_commit_callbacks(execute=True):
        incidents.health_check_run({"database": None})
    incident = Incident.objects.get(kind="database")
    assert incident.resolved_at is not None
    assert "Recovered" in mailoutbox[-1].subject
    assert cache.get(incidents.DB_DOWN_KEY) is None


@pytest.mark.django_db
def test_health_findings_flag_a_missing_backup_and_full_disk(monkeypatch):
    from monitoring import selectors

    monkeypatch.setattr(
        selectors, "disk_usage", lambda: [{"label": "Data", "path": "/x", "percent": 95.0}]
    )
    findings = selectors.health_findings()
    assert findings["database"] is None
    assert findings["backup_age"] == "There is no good backup yet."
    assert "95.0%" in findings["disk"]


def test_request_metrics_histogram_gives_p50_and_p95():
    now = 1_900_000_000.0
    for ms in [5] * 90 + [400] * 9 + [3000]:
        metrics.record(ms, error=ms == 3000, now=now)
    metrics.flush()
    series = metrics.last_hour(now=now)
    minute = series[-1]
    assert minute.count >= 100 and minute.errors >= 1
    assert minute.p50 == 10 and minute.p95 == 500
    summary = metrics.hour_summary(series)
    assert summary["requests"] == sum(m.count for m in series)


@pytest.mark.django_db
def test_middleware_counts_requests_without_database_writes(client, django_assert_num_queries):
    import time

    before = metrics.last_hour()[-1].count
    with django_assert_num_queries(0):
        client.get("/accounts/login/")
    metrics.flush()
    assert metrics.last_hour(now=time.time())[-1].count >= before + 1


# --- Alerts when the broker, the workers or the email server are down --------------------


@pytest.fixture
def celery_not_eager():
    """Tasks go to the broker for real (the suite runs them inline otherwise)."""
    from uscpis.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_broker_down_alerts_still_reach_the_admins(
    admin_user, broker_down, celery_not_eager, mailoutbox, settings
):
    """With the broker at a dead port, every finding opens an incident and emails the
    admins (sent by the checking process, not queued), each incident exactly once."""
    settings.ADMINS_EMAILS = ["ops@usc.edu.ph"]
    findings = {
        "database": None,
        "broker": "ConnectionRefusedError: [Errno 111] Connection refused",
        "backup_age": "There is no good backup yet.",
        "disk": "Data (/var) is 95.0% full",
    }
    outcome = incidents.health_check_run(findings)

    assert outcome == {"broker": "opened", "backup_age": "opened", "disk": "opened"}
    subjects = sorted(m.subject for m in mailoutbox)
    assert subjects == [
        "[USC-PIS] Problem: Broker unreachable",
        "[USC-PIS] Problem: Disk almost full",
        "[USC-PIS] Problem: No recent good backup",
    ]
    assert all(sorted(m.to) == [admin_user.email, "ops@usc.edu.ph"] for m in mailoutbox)
    assert not Incident.objects.filter(alerted_at__isnull=True).exists()
    # In-app notifications too, with no email task queued for them.
    notes = Notification.objects.filter(user=admin_user)
    assert notes.count() == 3 and not notes.filter(email_wanted=True).exists()

    # The next check (the broker still down) sends nothing again; recovery is emailed.
    incidents.health_check_run(findings)
    assert len(mailoutbox) == 3
    incidents.health_check_run({**findings, "broker": None})
    assert mailoutbox[-1].subject == "[USC-PIS] Recovered: Broker unreachable"
    assert Incident.objects.get(kind="broker").recovery_sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_an_incident_is_marked_alerted_only_once_its_email_went_out(
    admin_user, broker_down, celery_not_eager, mailoutbox, monkeypatch
):
    import uscpis.mail

    real_send = uscpis.mail.send_templated_email

    def smtp_down(**kwargs):
        raise ConnectionRefusedError("SMTP server refused the connection")

    monkeypatch.setattr(uscpis.mail, "send_templated_email", smtp_down)
    outcome = incidents.health_check_run(
        {"database": None, "broker": "down", "disk": "Data is 95% full"}
    )
    # Both findings were acted on, although every email failed.
    assert outcome == {
        "broker": "opened; email not sent yet",
        "disk": "opened; email not sent yet",
    }
    assert Incident.objects.filter(resolved_at__isnull=True, alerted_at__isnull=True).count() == 2

    monkeypatch.setattr(uscpis.mail, "send_templated_email", real_send)
    outcome = incidents.health_check_run({"database": None, "broker": "down", "disk": None})
    assert outcome == {"broker": "still open", "disk": "resolved"}
    assert Incident.objects.get(kind="broker").alerted_at is not None
    assert sorted(m.subject for m in mailoutbox) == [
        "[USC-PIS] Problem: Broker unreachable",
        "[USC-PIS] Recovered: Disk almost full",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failed_recovery_email_is_sent_by_a_later_check(admin_user, mailoutbox, monkeypatch):
    import uscpis.mail

    incidents.health_check_run({"database": None, "disk": "95% full"})
    real_send = uscpis.mail.send_templated_email

    def smtp_down(**kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr(uscpis.mail, "send_templated_email", smtp_down)
    incidents.health_check_run({"database": None, "disk": None})
    incident = Incident.objects.get(kind="disk")
    assert incident.resolved_at is not None and incident.recovery_sent_at is None

    monkeypatch.setattr(uscpis.mail, "send_templated_email", real_send)
    incidents.health_check_run({"database": None, "disk": None})
    incidents.health_check_run({"database": None, "disk": None})
    assert [m.subject for m in mailoutbox] == [
        "[USC-PIS] Problem: Disk almost full",
        "[USC-PIS] Recovered: Disk almost full",
    ]


@pytest.mark.django_db(transaction=True)
def test_one_failing_check_does_not_stop_the_others(monkeypatch, mailoutbox, admin_user):
    from monitoring import selectors

    def broken_disk():
        raise PermissionError("cannot stat /var/backups")

    monkeypatch.setattr(selectors, "disk_usage", broken_disk)
    findings = selectors.health_findings()
    assert "disk" not in findings  # could not be checked: left as it is
    assert findings["backup_age"] == "There is no good backup yet."


@pytest.mark.django_db(transaction=True)
def test_monitor_check_command_alerts_with_the_broker_down(
    admin_user, broker_down, celery_not_eager, mailoutbox, monkeypatch, capsys
):
    """The cron command (the compose ``monitor`` service) needs neither broker nor worker."""
    from django.core.management import call_command

    from monitoring import selectors

    monkeypatch.setattr(selectors, "disk_usage", lambda: [])
    with pytest.raises(SystemExit) as exited:
        call_command("monitor_check")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "broker      PROBLEM: OperationalError" in out
    assert "(opened)" in out
    assert "[USC-PIS] Problem: Broker unreachable" in {m.subject for m in mailoutbox}
    assert Incident.objects.get(kind="broker").alerted_at is not None
