"""Smaller faults from the outside test: idle clock, plain-text emails, lockout wording."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_idle_clock_starts_at_sign_in(client, doctor_user):
    from django.contrib.auth import signals
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    signals.user_logged_in.send(sender=type(doctor_user), request=request, user=doctor_user)
    assert isinstance(request.session.get("last_activity"), int)


def test_plain_text_email_does_not_show_html_entities(patient_user):
    from uscpis.mail import send_templated_email as send_templated

    patient_user.first_name = 'Ana "Nini" O\'Brien & Co'
    send_templated(
        to=[patient_user.email],
        subject="x",
        template="notification",
        context={
            "user": patient_user,
            "notification": {"title": 'Results for "CBC" & <urinalysis>', "body": ""},
        },
    )
    (message,) = mail.outbox
    assert '"Nini"' in message.body and "O'Brien & Co" in message.body
    assert 'Results for "CBC" & <urinalysis>' in message.body
    assert (
        "&quot;" not in message.body
        and "&#x27;" not in message.body
        and "&amp;" not in message.body
    )
    html = message.alternatives[0][0]
    assert "&lt;urinalysis&gt;" in html  # the HTML part stays escaped


def test_lockout_message_reads_in_words(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    url = reverse("accounts:login")
    for _ in range(3):
        response = client.post(
            url, {"username": "locked@usc.edu.ph", "password": "wrong-password-1"}
        )
    body = response.content.decode()
    assert "PT15M" not in body
    assert "15 minutes" in body


def test_duration_words_filter():
    from datetime import timedelta

    from accounts.templatetags.uscpis import duration_words

    assert duration_words("PT15M") == "15 minutes"
    assert duration_words("PT1H30M") == "1 hour 30 minutes"
    assert duration_words(timedelta(minutes=1)) == "1 minute"
    assert duration_words("0:15:00") == "15 minutes"


def test_access_log_names_things_in_words():
    from accounts.templatetags.uscpis import object_words

    assert object_words("patients.medicalcertificate") == "medical certificate"
    assert object_words("patients.patient") == "patient"
    assert object_words("appointments.calendar") == "calendar"


def test_portal_access_log_page_shows_words(client, patient_user, doctor_user):
    from accounts.audit import audit_record
    from tests.conftest import login
    from tests.patients.factories import PatientFactory

    patient = PatientFactory(user=patient_user)
    audit_record(
        actor=doctor_user,
        action="read",
        object_type="patients.medicalcertificate",
        object_id="1",
        patient_id=patient.pk,
    )
    login(client, patient_user)
    body = client.get(reverse("patients:portal_access_log")).content.decode()
    assert "medical certificate" in body and "medicalcertificate" not in body


def test_a_used_email_link_shows_no_button_on_get(clinic):
    from django.test import Client

    from appointments.services import links as services
    from tests.appointments.factories import AppointmentFactory

    appt = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )
    client = Client()
    url = f"/appointments/link/{services.link_token(appt, 'cancel')}/"
    assert b"Cancel this appointment" in client.get(url).content
    assert client.post(url).status_code == 200
    page = client.get(url)
    assert page.status_code == 200
    assert b"already been used" in page.content
    assert b"<form" not in page.content
