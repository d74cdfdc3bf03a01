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


def test_an_id_number_with_url_characters_reaches_the_booking_form_whole(
    client_for, front_desk_user
):
    """ID numbers are free text: "&", "#", "+" and spaces must survive the link to the
    booking form, which fills its patient box from ``?patient=``."""
    patient = PatientFactory(id_number="A&B #7+1")
    client = client_for(front_desk_user)
    body = client.get(reverse("patients:chart", args=[patient.pk])).content.decode()
    link = f"{reverse('appointments:staff_book')}?patient=A%26B%20%237%2B1"
    assert link.replace("&", "&amp;") in body
    form = client.get(link).content.decode()
    assert 'value="A&amp;B #7+1"' in form
