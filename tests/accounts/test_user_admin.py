"""Admin screens to invite users, change roles and deactivate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_admin_invites_a_user_who_sets_a_password(
    client_for, admin_user, mailoutbox, django_capture_on_commit_callbacks, client
):
    admin = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("accounts:user_invite"),
            {
                "email": "New.Nurse@USC.edu.ph",
                "first_name": "Nina",
                "last_name": "Lopez",
                "role": Role.NURSE,
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="new.nurse@usc.edu.ph")
    assert user.role == Role.NURSE and not user.has_usable_password()
    assert AuditEvent.objects.filter(
        action="create", object_id=str(user.pk), actor=admin_user
    ).exists()
    assert len(mailoutbox) == 1 and "invited" in mailoutbox[0].subject.lower()
    link = [line for line in mailoutbox[0].body.split() if "/password/reset/" in line][0]
    path = link.split("127.0.0.1:8000")[-1]
    set_page = client.get(path, follow=True)
    done = client.post(
        set_page.redirect_chain[-1][0],
        {"new_password1": "orchid-valley-window-7", "new_password2": "orchid-valley-window-7"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("orchid-valley-window-7")


def test_duplicate_invite_is_a_form_error(client_for, admin_user, nurse_user):
    response = client_for(admin_user).post(
        reverse("accounts:user_invite"),
        {
            "email": nurse_user.email.upper(),
            "first_name": "X",
            "last_name": "Y",
            "role": Role.NURSE,
        },
    )
    assert response.status_code == 422 and "already exists" in response.content.decode()


def test_admin_changes_role_and_deactivates(client_for, admin_user, nurse_user):
    admin = client_for(admin_user)
    response = admin.post(
        reverse("accounts:user_edit", args=[nurse_user.pk]),
        {
            "first_name": nurse_user.first_name,
            "last_name": nurse_user.last_name,
            "role": Role.DOCTOR,
            "is_active": "",
        },
    )
    assert response.status_code == 302
    nurse_user.refresh_from_db()
    assert nurse_user.role == Role.DOCTOR and not nurse_user.is_active
    event = AuditEvent.objects.get(action="update", object_id=str(nurse_user.pk))
    assert (
        event.detail["before"]["role"] == Role.NURSE and event.detail["after"]["is_active"] is False
    )


def test_admin_cannot_demote_themself(client_for, admin_user):
    response = client_for(admin_user).post(
        reverse("accounts:user_edit", args=[admin_user.pk]),
        {
            "first_name": "A",
            "last_name": "B",
            "role": Role.NURSE,
            "is_active": "on",
        },
    )
    assert response.status_code == 422
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_user_list_filters_and_htmx_fragment(client_for, admin_user, nurse_user, doctor_user):
    client = client_for(admin_user)
    body = client.get(reverse("accounts:user_list"), {"role": Role.NURSE}).content.decode()
    assert nurse_user.email in body and doctor_user.email not in body
    fragment = client.get(
        reverse("accounts:user_list"), {"q": "doctor.persona"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="user-table"') and doctor_user.email in fragment


def test_user_list_queries_do_not_grow(
    client_for, admin_user, make_user, django_assert_max_num_queries
):
    for _ in range(40):
        make_user(Role.PATIENT)
    client = client_for(admin_user)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("accounts:user_list"))
    assert response.content.decode().count("/accounts/users/") >= 25  # a full page of rows


@pytest.mark.parametrize(
    "fixture", ["doctor_user", "nurse_user", "front_desk_user", "patient_user"]
)
def test_non_admins_cannot_manage_users(client_for, request, fixture, nurse_user):
    client = client_for(request.getfixturevalue(fixture))
    assert client.get(reverse("accounts:user_list")).status_code == 403
    assert (
        client.post(
            reverse("accounts:user_edit", args=[nurse_user.pk]), {"role": Role.ADMIN}
        ).status_code
        == 403
    )


def test_unknown_user_is_404(client_for, admin_user):
    assert (
        client_for(admin_user).get(reverse("accounts:user_edit", args=[999999])).status_code == 404
    )


def _invite(client, django_capture_on_commit_callbacks, email="late.nurse@usc.edu.ph"):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounts:user_invite"),
            {
                "email": email,
                "first_name": "Lat",
                "last_name": "E",
                "role": Role.NURSE,
            },
        )
    return User.objects.get(email=email)


def test_admin_resends_an_invitation_that_was_never_used(
    client_for, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    admin = client_for(admin_user)
    invited = _invite(admin, django_capture_on_commit_callbacks)
    page = admin.get(reverse("accounts:user_edit", args=[invited.pk])).content.decode()
    assert (
        'id="invitation"' in page
        and reverse("accounts:user_invite_resend", args=[invited.pk]) in page
    )
    again = admin.post(
        reverse("accounts:user_invite"),
        {"email": invited.email, "first_name": "Lat", "last_name": "E", "role": Role.NURSE},
    )
    assert again.status_code == 422 and "resend the invitation" in again.content.decode()
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("accounts:user_invite_resend", args=[invited.pk]), follow=True
        )
    assert response.redirect_chain[-1][0] == reverse("accounts:user_edit", args=[invited.pk])
    assert "Invitation sent again" in response.content.decode()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [invited.email]
    assert "/accounts/password/reset/" in mailoutbox[0].body
    event = AuditEvent.objects.filter(action="update", object_id=str(invited.pk)).latest("id")
    assert event.actor == admin_user and event.detail == {"invitation": "resent"}


def test_no_resend_once_a_password_is_chosen_or_the_account_is_deactivated(
    client_for, admin_user, nurse_user, mailoutbox, django_capture_on_commit_callbacks
):
    admin = client_for(admin_user)
    assert (
        'id="invitation"'
        not in admin.get(reverse("accounts:user_edit", args=[nurse_user.pk])).content.decode()
    )
    deactivated = _invite(admin, django_capture_on_commit_callbacks, "gone.nurse@usc.edu.ph")
    deactivated.is_active = False
    deactivated.save()
    mailoutbox.clear()
    for target, message in [
        (nurse_user, "already chosen a password"),
        (deactivated, "deactivated"),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(
                reverse("accounts:user_invite_resend", args=[target.pk]), follow=True
            )
        assert message in response.content.decode()
    assert mailoutbox == []


def test_only_user_managers_resend_invitations(client_for, admin_user, nurse_user, client):
    url = reverse("accounts:user_invite_resend", args=[nurse_user.pk])
    assert client_for(nurse_user).post(url).status_code == 403
    assert client.post(url)["Location"].startswith(reverse("accounts:login"))
    assert client_for(admin_user).get(url).status_code == 405
    assert (
        client_for(admin_user)
        .post(reverse("accounts:user_invite_resend", args=[999999]))
        .status_code
        == 404
    )
