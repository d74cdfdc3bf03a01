"""The integrations panel checks SES and Cloudinary (mocked: no network), each on its own,
and caches the results for a minute."""

from __future__ import annotations

import pytest
from django.urls import reverse
from moto import mock_aws

from monitoring import integrations, selectors

HX = {"HTTP_HX_REQUEST": "true"}
SES = "django_ses.SESBackend"


@pytest.fixture(autouse=True)
def _fresh_checks():
    integrations.forget()
    yield
    integrations.forget()


@pytest.fixture
def ses(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.EMAIL_BACKEND = SES
    settings.AWS_SES_REGION_NAME = "ap-southeast-1"
    settings.AWS_SES_REGION_ENDPOINT = "email.ap-southeast-1.amazonaws.com"
    with mock_aws():
        yield


def _pings(monkeypatch, answer):
    import cloudinary.api

    calls = []

    def ping(**options):
        calls.append(options)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(cloudinary.api, "ping", ping)
    return calls


def test_ses_answers_with_its_quota(ses):
    panel = selectors.integrations_panel()
    email = panel.data["email"]
    assert email["reachable"] is True and panel.ok, panel.problems
    assert "ap-southeast-1" in email["detail"] and "of 200 messages" in email["detail"]


def test_ses_failure_turns_the_panel_red_but_cloudinary_is_still_checked(
    ses, settings, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    def refuse(*args, **kwargs):
        raise EndpointConnectionError(endpoint_url="https://email.ap-southeast-1.amazonaws.com")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", refuse)
    settings.CLOUDINARY_URL = "cloudinary://key:topsecret@clinic"
    calls = _pings(monkeypatch, {"status": "ok"})
    panel = selectors.integrations_panel()
    assert panel.data["email"]["reachable"] is False
    assert any("Email unreachable" in p for p in panel.problems)
    assert panel.data["cloudinary"]["reachable"] is True
    assert calls == [{"timeout": integrations.TIMEOUT_SECONDS}]


def test_cloudinary_not_configured_is_not_a_problem(settings):
    settings.CLOUDINARY_URL = ""
    panel = selectors.integrations_panel()
    assert panel.data["cloudinary"] == {
        "configured": False,
        "reachable": None,
        "detail": "Not configured",
    }
    assert not any("Cloudinary" in p for p in panel.problems)


def test_cloudinary_failure_is_reported_without_the_secret(
    settings, monkeypatch, client_for, admin_user
):
    settings.CLOUDINARY_URL = "cloudinary://key:topsecret@clinic"
    _pings(monkeypatch, TimeoutError("read timed out"))
    body = (
        client_for(admin_user)
        .get(reverse("monitoring:panel", args=["integrations"]), **HX)
        .content.decode()
    )
    assert "Cloudinary unreachable" in body and "read timed out" in body
    assert "topsecret" not in body
    # The email check is unaffected (the test settings' development backend).
    assert "Development backend" in body


def test_results_are_cached_for_a_minute(settings, monkeypatch):
    settings.CLOUDINARY_URL = "cloudinary://key:secret@clinic"
    calls = _pings(monkeypatch, {"status": "ok"})
    for _ in range(3):
        assert selectors.integrations_panel().data["cloudinary"]["reachable"] is True
    assert len(calls) == 1
    integrations.forget()  # as when the minute has passed
    selectors.integrations_panel()
    assert len(calls) == 2
    settings.CLOUDINARY_URL = "cloudinary://key:secret@other"  # new settings: checked at once
    selectors.integrations_panel()
    assert len(calls) == 3


def test_a_check_that_raises_does_not_break_the_others(monkeypatch):
    def broken():
        raise RuntimeError("bug")

    monkeypatch.setitem(integrations.CHECKS, "cloudinary", broken)
    panel = selectors.integrations_panel()
    assert panel.data["cloudinary"]["reachable"] is False
    assert panel.data["email"]["detail"]
