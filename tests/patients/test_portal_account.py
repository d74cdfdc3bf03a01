"""Staff create a patient's portal account, linked to the record, with an emailed invitation."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, User
from accounts.roles import Role
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_front_desk_creates_a_linked_account_and_the_patient_is_invited(
    client_for, front_desk_user, mailoutbox, django_capture_on_commit_callbacks
):
    patient = PatientFactory(email="Carla.Reyes@usc.edu.ph")
    client = client_for(front_desk_user)
    chart = client.get(reverse("patients:chart", args=[patient.pk])).content.decode()
    assert "Create portal account" in chart
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("patients:account_create", args=[patient.pk]))
    assert response.status_code == 302
    patient.refresh_from_db()
    user = User.objects.get(email="carla.reyes@usc.edu.ph")
    assert patient.user == user and user.role == Role.PATIENT and not user.has_usable_password()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [user.email]
    assert AuditEvent.objects.filter(
        action="update", patient_id=patient.pk, actor=front_desk_user
    ).exists()
    # The linked patient now sees their own record in the portal.
    assert client_for(user).get(reverse("patients:portal")).status_code == 200
    assert (
        "Create portal account"
        not in client.get(reverse("patients:chart", args=[patient.pk])).content.decode()
    )


def test_refused_without_email_or_when_already_linked(
    client_for, front_desk_user, patient_user, mailoutbox
):
    client = client_for(front_desk_user)
    no_email = PatientFactory(email="")
    client.post(reverse("patients:account_create", args=[no_email.pk]))
    no_email.refresh_from_db()
    assert no_email.user is None
    linked = PatientFactory(user=patient_user, email=patient_user.email)
    response = client.post(reverse("patients:account_create", args=[linked.pk]), follow=True)
    assert "already has a portal account" in response.content.decode()
    assert mailoutbox == []


def test_email_of_another_account_is_not_taken_over(client_for, front_desk_user, nurse_user):
    patient = PatientFactory(email=nurse_user.email)
    response = client_for(front_desk_user).post(
        reverse("patients:account_create", args=[patient.pk]), follow=True
    )
    patient.refresh_from_db()
    assert patient.user is None and "already exists" in response.content.decode()


@pytest.mark.parametrize("fixture", ["billing_user", "inventory_user", "patient_user"])
def test_other_roles_cannot_create_accounts(client_for, request, fixture):
    patient = PatientFactory()
    response = client_for(request.getfixturevalue(fixture)).post(
        reverse("patients:account_create", args=[patient.pk])
    )
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.user is None


def test_unknown_patient_is_404(client_for, front_desk_user):
    assert (
        client_for(front_desk_user)
        .post(reverse("patients:account_create", args=[999999]))
        .status_code
        == 404
    )
