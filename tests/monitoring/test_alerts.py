"""Incidents: one alert per incident, a recovery message, and request metrics."""

from __future__ import annotations

import pytest

from monitoring import metrics, services
from monitoring.models import Incident


@pytest.mark.django_db
def test_incident_alerts_once_and_sends_recovery(
    admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.health_check_run({"database": None, "broker": "ConnectionRefused", "disk": None})
        services.health_check_run({"database": None, "broker": "ConnectionRefused", "disk": None})
    assert Incident.objects.filter(kind="broker", resolved_at__isnull=True).count() == 1
    assert [m.subject for m in mailoutbox] == ["[USC-PIS] Problem: Broker unreachable"]
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.health_check_run({"database": None, "broker": None, "disk": None})
    assert outcome["broker"] == "resolved"
    assert [m.subject for m in mailoutbox][-1] == "[USC-PIS] Recovered: Broker unreachable"
    assert Incident.objects.get(kind="broker").resolved_at is not None
    # A new outage opens a new incident.
    with django_capture_on_commit_callbacks(execute=True):
        services.health_check_run({"database": None, "broker": "down again"})
    assert Incident.objects.filter(kind="broker").count() == 2


@pytest.mark.django_db
def test_database_outage_is_tracked_in_the_cache_then_recorded(
    admin_user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    cache.delete(services.DB_DOWN_KEY)
    cache.delete(services.ADMIN_EMAILS_KEY)
    settings.ADMINS_EMAILS = ["ops@usc.edu.ph"]
    services.health_check_run({"database": "OperationalError: connection refused"})
    services.health_check_run({"database": "OperationalError: connection refused"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ops@usc.edu.ph"]
    with django_capture_on_commit_callbacks(execute=True):
        services.health_check_run({"database": None})
    incident = Incident.objects.get(kind="database")
    assert incident.resolved_at is not None
    assert "Recovered" in mailoutbox[-1].subject
    assert cache.get(services.DB_DOWN_KEY) is None


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
