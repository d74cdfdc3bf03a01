"""Email through django-ses against moto's fake SES (no network)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from uscpis.mail import send_templated_email


@pytest.fixture
def fake_ses(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    settings.EMAIL_BACKEND = "django_ses.SESBackend"  # pytest-django swapped in locmem
    settings.AWS_SES_REGION_NAME = "ap-southeast-1"
    settings.AWS_SES_REGION_ENDPOINT = "email.ap-southeast-1.amazonaws.com"
    settings.AWS_ACCESS_KEY_ID = "testing"
    settings.AWS_SECRET_ACCESS_KEY = "testing"
    settings.AWS_SES_AUTO_THROTTLE = 0
    settings.USE_SES_V2 = True
    settings.DEFAULT_FROM_EMAIL = "clinic@usc-pis.example.org"
    with mock_aws():
        client = boto3.client("ses", region_name="ap-southeast-1")
        client.verify_email_identity(EmailAddress="clinic@usc-pis.example.org")
        yield client


def test_branded_email_goes_through_ses(fake_ses):
    from moto.backends import get_backend

    sent = send_templated_email(
        to=["patient@usc.edu.ph"],
        subject="Your certificate is ready",
        template="notification",
        context={
            "notification": type(
                "N", (), {"title": "Your certificate is ready", "body": "Download it.", "url": "/x"}
            )(),
            "user": type("U", (), {"first_name": "Bea"})(),
        },
        attachments=[("hello.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")],
    )
    assert sent == 1
    backend = get_backend("ses")["123456789012"]["ap-southeast-1"]
    messages = list(backend.sent_messages)
    assert len(messages) == 1
    raw = messages[0].raw_data
    assert "patient@usc.edu.ph" in raw
    assert "[USC-PIS] Your certificate is ready" in raw
    assert "text/html" in raw and "text/plain" in raw and "hello.ics" in raw
