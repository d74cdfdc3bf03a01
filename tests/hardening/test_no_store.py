"""Nothing a signed-in user receives may be kept by a browser or proxy cache."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_signed_in_pages_and_downloads_are_no_store(client, clinic, doctor_user, patient_user):
    login(client, doctor_user)
    for url in (
        reverse("patients:chart", args=[clinic.patient.pk]),
        reverse("patients:export", args=[clinic.patient.pk, "csv"]),
        reverse("appointments:calendar"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
    login(client, patient_user)
    response = client.get(reverse("patients:portal"))
    assert "no-store" in response["Cache-Control"]
