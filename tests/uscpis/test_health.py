"""/healthz and /readyz."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_is_200_without_login():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_readyz_reports_each_dependency():
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_is_503_when_the_broker_is_down():
    from uscpis.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        response = Client().get("/readyz")
    finally:
        app.conf.broker_url = previous
    body = response.json()
    assert response.status_code == 503 and body["status"] == "fail"
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_readyz_does_not_reveal_connection_details(caplog):
    from uscpis.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://secret-user:secret-pass@127.0.0.1:1/0"
    try:
        response = Client().get("/readyz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False}
    assert "127.0.0.1" not in response.content.decode() and "Error" not in response.content.decode()
    assert "readyz: broker failed" in caplog.text  # the detail is in the logs
