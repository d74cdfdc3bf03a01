"""Self-registration: nothing is linked or created until the email is confirmed, a record is
linked automatically only when its email, ID number and birth date all match, a sign-up
that is never confirmed locks nobody out, and sign-up never adds a duplicate patient."""

from datetime import date
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from patients.models import Patient, PendingSignup
from patients.services import self_registration
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "ana.santos@usc.edu.ph",
    "password": "a-very-long-pass-2026",
    "id_number": "20237777",
    "first_name": "Ana",
    "last_name": "Santos",
    "sex": "F",
    "birth_date": "2003-04-05",
    "patient_type": "student",
}


@pytest.fixture
def signup(client, mailoutbox, django_capture_on_commit_callbacks):
    """``signup(**overrides)`` posts the form and returns (response, path of the emailed
    confirmation link or None)."""

    def post(**overrides):
        sent = len(mailoutbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("patients:signup"), {**SIGNUP, **overrides})
        path = None
        if len(mailoutbox) > sent:
            link = next((w for w in mailoutbox[-1].body.split() if "/signup/verify/" in w), None)
            path = urlsplit(link).path if link else None
        return response, path

    return post


def _confirm(client, path):
    return client.get(path)


def _password_is(password):
    return User.objects.get(email=SIGNUP["email"]).check_password(password)


# --- 1. No takeover of a record ------------------------------------------------------------


def test_record_without_email_is_never_linked_by_id_and_birth_date(client, signup):
    """A stranger who knows a student's ID number and birth date cannot take over a record
    that has no email: the account is created without a record, even once confirmed."""
    victim = PatientFactory(id_number="20237777", email="", birth_date=date(2003, 4, 5))
    response, path = signup(email="attacker@usc.edu.ph")
    assert response.status_code == 200 and b"Check your email" in response.content
    assert _confirm(client, path).status_code == 200
    victim.refresh_from_db()
    attacker = User.objects.get(email="attacker@usc.edu.ph")
    assert victim.user is None and attacker.is_active
    assert not Patient.objects.filter(user=attacker).exists()
    assert Patient.objects.filter(id_number__iexact="20237777").count() == 1


def test_record_with_another_email_is_not_linked(client, signup):
    record = PatientFactory(id_number="20237777", email="real@usc.edu.ph")
    _, path = signup(email="attacker@usc.edu.ph")
    _confirm(client, path)
    record.refresh_from_db()
    assert record.user is None


def test_matching_record_is_linked_only_when_the_email_is_confirmed(client, signup):
    record = PatientFactory(
        id_number="2023-7777", email="Ana.Santos@USC.edu.ph", birth_date=date(2003, 4, 5)
    )
    response, path = signup(id_number="2023-7777")
    assert response.status_code == 200
    user = User.objects.get(email="ana.santos@usc.edu.ph")
    record.refresh_from_db()
    assert record.user is None and not user.is_active
    assert _confirm(client, path).status_code == 200
    record.refresh_from_db()
    user.refresh_from_db()
    assert user.is_active and record.user == user
    assert not PendingSignup.objects.filter(user=user).exists()


def test_matching_email_but_other_birth_date_is_not_linked(client, signup):
    record = PatientFactory(
        id_number="20237777", email=SIGNUP["email"], birth_date=date(2003, 1, 1)
    )
    _, path = signup()
    _confirm(client, path)
    record.refresh_from_db()
    assert record.user is None
    assert Patient.objects.count() == 1


# --- 2. An unconfirmed sign-up locks nobody out ----------------------------------------------


def test_new_person_gets_a_record_when_the_email_is_confirmed(client, signup):
    response, path = signup()
    assert response.status_code == 200
    assert not Patient.objects.exists()  # nothing in the registry before confirmation
    _confirm(client, path)
    patient = Patient.objects.get(id_number="20237777")
    assert patient.user.email == SIGNUP["email"] and patient.email == SIGNUP["email"]


def test_a_second_signup_replaces_an_unconfirmed_one_and_voids_its_link(client, signup):
    """Someone (a stranger, or the student who lost the email) signed up and never
    confirmed: signing up again works, the new password counts, and the old link no longer
    activates the account (it carried the old password)."""
    _, first_link = signup(password="stranger-chose-this-1")
    second, second_link = signup(password="student-chose-this-2")
    assert second.status_code == 200 and b"Check your email" in second.content
    assert User.objects.filter(email=SIGNUP["email"]).count() == 1
    assert _confirm(client, first_link).status_code == 400
    assert not User.objects.get(email=SIGNUP["email"]).is_active
    assert _confirm(client, second_link).status_code == 200
    assert _password_is("student-chose-this-2")
    assert not _password_is("stranger-chose-this-1")


def test_a_confirmed_account_is_never_replaced(client, signup, mailoutbox):
    _, path = signup(password="student-chose-this-2")
    _confirm(client, path)
    again, no_link = signup(password="stranger-chose-this-1")
    # The same answer as for a new email; the owner is told by email instead.
    assert again.status_code == 200 and b"Check your email" in again.content and no_link is None
    assert b"already exists" not in again.content
    assert mailoutbox[-1].to == [SIGNUP["email"]] and "tried to sign up" in mailoutbox[-1].subject
    assert _password_is("student-chose-this-2")


def test_a_deactivated_account_is_not_replaced_nor_reactivated(client, signup, make_user):
    """An account an administrator deactivated is inactive too, but it is not a pending
    sign-up: a new sign-up is refused and an old confirmation link does not reopen it."""
    user = make_user(Role.PATIENT, email=SIGNUP["email"], is_active=False)
    response, _ = signup()
    assert response.status_code == 200 and b"already exists" not in response.content
    token_path = urlsplit(self_registration.email_verification_url(user)).path
    assert _confirm(client, token_path).status_code == 400
    user.refresh_from_db()
    assert not user.is_active


def test_staff_create_portal_account_over_an_unconfirmed_signup(
    client, signup, client_for, front_desk_user, mailoutbox, django_capture_on_commit_callbacks
):
    """Someone else's unconfirmed sign-up with the record's email does not block "Create
    portal account": that account becomes the invited one (its password is dropped, the
    invitation goes to the email) and the old confirmation link is void."""
    record = PatientFactory(email=SIGNUP["email"], id_number="20230099")
    _, stale_link = signup(password="stranger-chose-this-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(front_desk_user).post(
            reverse("patients:account_create", args=[record.pk]), follow=True
        )
    assert "Portal account created" in response.content.decode()
    record.refresh_from_db()
    user = User.objects.get(email=SIGNUP["email"])
    assert record.user == user and user.is_active and not user.has_usable_password()
    assert not PendingSignup.objects.filter(user=user).exists()
    assert mailoutbox[-1].to == [SIGNUP["email"]] and "invited" in mailoutbox[-1].subject
    assert _confirm(client, stale_link).status_code == 400
    assert not _password_is("stranger-chose-this-1")


def test_confirmed_account_without_record_waits_in_the_staff_list(
    client, signup, client_for, front_desk_user
):
    PatientFactory(id_number="20237777", email="")
    _, path = signup()
    desk = client_for(front_desk_user)
    assert SIGNUP["email"] not in desk.get(reverse("patients:portal_accounts")).content.decode()
    _confirm(client, path)
    assert SIGNUP["email"] in desk.get(reverse("patients:portal_accounts")).content.decode()


# --- 3. No silent duplicate patients -----------------------------------------------------


def test_signup_never_creates_a_possible_duplicate(client, signup):
    """An existing Juan Cruz (2003-04-05, ID 2023-0001) signing up as 20230001 gets an
    account without a record; staff link it instead of a second record appearing."""
    existing = PatientFactory(
        id_number="2023-0001",
        first_name="Juan",
        last_name="Cruz",
        birth_date=date(2003, 4, 5),
        email="jcruz.old@usc.edu.ph",
    )
    _, path = signup(
        email="juan.cruz@usc.edu.ph", id_number="20230001", first_name="Juan", last_name="Cruz"
    )
    assert _confirm(client, path).status_code == 200
    assert Patient.objects.filter(first_name="Juan", last_name="Cruz").count() == 1
    existing.refresh_from_db()
    assert existing.user is None
    assert not Patient.objects.filter(user__email="juan.cruz@usc.edu.ph").exists()


def test_signup_does_not_create_a_record_next_to_one_with_the_same_email(client, signup):
    PatientFactory(id_number="19990001", email=SIGNUP["email"], first_name="Ann", last_name="S")
    _, path = signup()
    _confirm(client, path)
    assert Patient.objects.count() == 1
    assert not Patient.objects.filter(user__email=SIGNUP["email"]).exists()


# --- 5. ID numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["12\r\n34", "12 34", "12\t34", "12\x1b34", "12\u200b34"])
def test_signup_refuses_spaces_and_control_characters_in_the_id_number(signup, bad):
    response, path = signup(id_number=bad)
    assert response.status_code == 422 and path is None
    assert b"spaces or control characters" in response.content
    assert not User.objects.filter(email=SIGNUP["email"]).exists()


# --- Sign-ups made before pending sign-ups were kept ------------------------------------------


def test_migration_turns_legacy_unconfirmed_signups_into_pending_ones(make_user):
    """Before this change the record was linked at sign-up; the migration unlinks such
    records from never-confirmed accounts and makes those accounts replaceable."""
    import importlib

    from django.apps import apps

    from accounts.audit import audit_record

    migration = importlib.import_module("patients.migrations.0006_pendingsignup_id_number_ci")
    legacy = make_user(Role.PATIENT, email="legacy@usc.edu.ph", is_active=False, password="x" * 14)
    record = PatientFactory(user=legacy, id_number="20231111")
    unlinked = make_user(
        Role.PATIENT, email="nolink@usc.edu.ph", is_active=False, password="y" * 14
    )
    confirmed = make_user(Role.PATIENT, email="conf@usc.edu.ph", is_active=False, password="z" * 14)
    audit_record(actor=confirmed, action="update", obj=confirmed, detail={"email_verified": True})
    invited = make_user(Role.PATIENT, email="inv@usc.edu.ph", is_active=False)
    invited.set_unusable_password()
    invited.save()
    migration.legacy_pending_signups(apps, None)
    record.refresh_from_db()
    assert record.user is None
    pending = PendingSignup.objects.get(user=legacy)
    assert pending.id_number == "20231111" and pending.birth_date == record.birth_date
    assert PendingSignup.objects.get(user=unlinked).id_number == ""
    assert not PendingSignup.objects.filter(user__in=[confirmed, invited]).exists()


def test_signup_with_a_staff_email_answers_like_any_other(client, signup, make_user, mailoutbox):
    staff = make_user(Role.DOCTOR, email=SIGNUP["email"])
    response, link = signup()
    assert response.status_code == 200 and b"Check your email" in response.content
    assert (
        link is None
        and not staff.__class__.objects.filter(email=SIGNUP["email"], role=Role.PATIENT).exists()
    )
    assert [m.subject for m in mailoutbox if "tried to sign up" in m.subject]
    staff.refresh_from_db()
    assert staff.role == Role.DOCTOR and staff.is_active
