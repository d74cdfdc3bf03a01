"""Health that checks what it claims: /readyz looks at the filesystem broker's folders, and
the System health badge cannot say OK while an incident is open."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from monitoring.models import Incident, IncidentKind

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    folders = {name: tmp_path / "broker" / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]),
        "processed_folder": str(folders["processed"]),
    }
    return folders


def test_broker_check_fails_when_the_filesystem_broker_folders_are_gone(filesystem_broker):
    from monitoring.health import check_broker

    ok, _ = check_broker()
    assert ok
    shutil.rmtree(filesystem_broker["queue"])
    ok, detail = check_broker()
    assert not ok and "missing" in detail


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_folders_are_gone(client, filesystem_broker):
    shutil.rmtree(Path(filesystem_broker["queue"]).parent)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["checks"]["broker"]["ok"] is False


@pytest.mark.django_db
def test_health_badge_reflects_an_open_incident(client, admin_user):
    from tests.conftest import login

    login(client, admin_user)
    url = reverse("monitoring:panel", args=["health"])
    Incident.objects.create(kind=IncidentKind.WORKER, detail="no worker answered")
    body = client.get(url, **HX).content.decode()
    assert '<span class="badge good">OK</span>' not in body
    assert "Failing" in body and "Open incident: No worker answering" in body
