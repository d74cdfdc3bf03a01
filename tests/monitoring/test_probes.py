"""Liveness probes that work whatever the Host header, the compose wiring, and queue
lengths read from the real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
PROBE = "monitoring.middleware.HealthProbeMiddleware"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def production_hosts(settings):
    """What production sets: only the public name is allowed, plain HTTP is redirected."""
    settings.ALLOWED_HOSTS = ["clinic.example.edu"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = []
    return settings


@pytest.mark.django_db
def test_probes_answer_a_container_healthcheck_that_calls_by_address(production_hosts):
    production_hosts.MIDDLEWARE = [
        PROBE,
        *(m for m in production_hosts.MIDDLEWARE if m != PROBE),
    ]
    client = Client(HTTP_HOST="127.0.0.1:8000")  # what `curl http://127.0.0.1:8000/healthz` sends
    live = client.get("/healthz")
    assert live.status_code == 200 and live.content == b"ok"
    assert live["Cache-Control"].startswith("max-age=0")
    ready = client.get("/readyz")
    checks = ready.json()["checks"]
    assert checks["database"]["ok"]
    assert ready.status_code == (200 if all(c["ok"] for c in checks.values()) else 503)
    # Everything else still checks the host.
    assert client.get(reverse("accounts:login")).status_code == 400
    assert client.post("/healthz").status_code == 400


def test_the_probe_middleware_runs_first():
    """Before SecurityMiddleware (HTTPS redirect) and CommonMiddleware (Host check)."""
    assert django_settings.MIDDLEWARE[0] == PROBE


@pytest.mark.django_db
def test_probe_with_the_real_settings_and_an_address_as_host(production_hosts):
    response = Client(HTTP_HOST="127.0.0.1:8000").get("/healthz")
    assert response.status_code == 200


def _compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_health_check_outside_celery():
    services = _compose()["services"]
    monitor = services["monitor"]
    assert "manage.py monitor_check" in " ".join(monitor["command"])
    assert monitor["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "127.0.0.1:8000/healthz" in web_check
    procfile = (ROOT / "Procfile").read_text()
    assert "manage.py monitor_check" in procfile


@pytest.mark.django_db
def test_queue_lengths_on_redis_read_an_empty_queue_as_zero(client_for, admin_user):
    if not django_settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (the Redis broker)")
    from uscpis.celery import app

    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(queue)  # Redis drops an empty queue's list
    from monitoring import selectors

    assert {"name": queue, "length": 0} in selectors._queue_lengths()
    body = client_for(admin_user).get(reverse("monitoring:panel", args=["background"]), **HX)
    text = body.content.decode()
    assert "NOT_FOUND" not in text and f"{queue}: 0" in text

    with app.connection_for_write() as conn:  # its own connection, not the app's pool
        app.send_task("monitoring.tasks.heartbeat", queue=queue, connection=conn)
        try:
            assert {"name": queue, "length": 1} in selectors._queue_lengths()
        finally:
            conn.default_channel.client.delete(queue)
