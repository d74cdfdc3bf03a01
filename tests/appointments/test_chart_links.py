"""The patient chart links to the patient's appointments (through the registry hook)."""

import pytest
from django.urls import reverse

from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_staff_see_booking_and_history_links_on_the_chart(client_for, front_desk_user):
    patient = PatientFactory()
    body = (
        client_for(front_desk_user)
        .get(reverse("patients:chart", args=[patient.pk]))
        .content.decode()
    )
    assert reverse("appointments:patient_history", args=[patient.pk]) in body
    assert f"{reverse('appointments:staff_book')}?patient={patient.id_number}" in body


def test_roles_without_scheduling_see_no_links(client_for, billing_user):
    patient = PatientFactory()
    body = (
        client_for(billing_user).get(reverse("patients:chart", args=[patient.pk])).content.decode()
    )
    assert reverse("appointments:patient_history", args=[patient.pk]) not in body
