"""Staff link a patient's portal account to their record by hand (and unlink it); accounts
without a record wait in a list, and their holder sees what happens next."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Notification, User
from accounts.roles import Role
from patients.models import Patient
from patients.services import patient_accounts
from tests.patients.factories import PatientFactory

ALL = set(Role.values)
REGISTER = {Role.DOCTOR, Role.DENTIST, Role.NURSE, Role.FRONT_DESK}


@pytest.fixture
def account(make_user):
    """A self-registered student whose details did not match: active, no record."""
    return make_user(
        Role.PATIENT, email="lea.dizon@usc.edu.ph", first_name="Lea", last_name="Dizon"
    )


@pytest.fixture
def record():
    return PatientFactory(
        first_name="Lea", last_name="Dizon", id_number="21990001", email="ldizon@usc.edu.ph"
    )


def _link(client, account, record, **extra):
    return client.post(
        reverse("patients:account_link", args=[account.pk]),
        {"patient": record.pk, "identity_checked": "on", **extra},
    )


# --- Permissions -----------------------------------------------------------------------


@pytest.mark.django_db
def test_who_may_see_the_list_and_the_link_and_unlink_pages(
    account, record, patient, user_for_role, client_for, client
):
    urls = [
        reverse("patients:portal_accounts"),
        reverse("patients:account_link", args=[account.pk]),
        reverse("patients:account_unlink", args=[patient.pk]),
    ]
    for url in urls:
        anon = client.get(url)
        assert anon.status_code == 302 and "/login/" in anon["Location"], url
        for role in Role.values:
            response = client_for(user_for_role(role)).get(url)
            expected = 200 if role in REGISTER else 403
            assert response.status_code == expected, (role, url, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fixture", ["admin_user", "billing_user", "inventory_user", "patient_user"]
)
def test_other_roles_cannot_link_or_unlink(client_for, request, fixture, account, record, patient):
    client = client_for(request.getfixturevalue(fixture))
    assert _link(client, account, record).status_code == 403
    assert client.post(reverse("patients:account_unlink", args=[patient.pk])).status_code == 403
    record.refresh_from_db()
    patient.refresh_from_db()
    assert record.user is None and patient.user_id is not None


@pytest.mark.django_db
def test_anonymous_post_goes_to_login(client, account, record):
    response = _link(client, account, record)
    assert response.status_code == 302 and "/login/" in response["Location"]
    record.refresh_from_db()
    assert record.user is None


@pytest.mark.django_db
def test_service_refuses_a_role_without_the_permission(billing_user, account, record):
    with pytest.raises(PermissionDenied):
        patient_accounts.patient_link_account(actor=billing_user, patient=record, user=account)


@pytest.mark.django_db
def test_staff_accounts_and_unknown_ids_are_404(client_for, front_desk_user, nurse_user):
    client = client_for(front_desk_user)
    assert client.get(reverse("patients:account_link", args=[nurse_user.pk])).status_code == 404
    assert client.get(reverse("patients:account_link", args=[999999])).status_code == 404
    assert client.get(reverse("patients:account_unlink", args=[999999])).status_code == 404


# --- The list --------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_active_unlinked_patient_accounts_newest_first(
    client_for, front_desk_user, make_user, patient, nurse_user
):
    old = make_user(Role.PATIENT, email="old.one@usc.edu.ph", first_name="Olga", last_name="Old")
    new = make_user(Role.PATIENT, email="new.one@usc.edu.ph", first_name="Nico", last_name="New")
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - timedelta(days=3))
    make_user(Role.PATIENT, email="unconfirmed@usc.edu.ph", is_active=False)
    client = client_for(front_desk_user)
    assert (
        "Portal accounts awaiting a record"
        in client.get(reverse("patients:portal_accounts")).content.decode()
    )
    table = client.get(reverse("patients:portal_accounts"), HTTP_HX_REQUEST="true")
    table = table.content.decode()
    assert table.index(new.email) < table.index(old.email)
    assert "unconfirmed@usc.edu.ph" not in table  # email not confirmed yet
    assert patient.user.email not in table  # already linked
    assert nurse_user.email not in table and front_desk_user.email not in table  # staff


@pytest.mark.django_db
def test_list_search_by_name_or_email_and_htmx_fragment(client_for, front_desk_user, make_user):
    make_user(Role.PATIENT, email="ramon.uy@usc.edu.ph", first_name="Ramon", last_name="Uy")
    make_user(Role.PATIENT, email="tess.go@usc.edu.ph", first_name="Tess", last_name="Go")
    client = client_for(front_desk_user)
    url = reverse("patients:portal_accounts")
    body = client.get(url, {"q": "ramon"}).content.decode()
    assert "ramon.uy@usc.edu.ph" in body and "tess.go@usc.edu.ph" not in body
    body = client.get(url, {"q": "TESS.GO@"}).content.decode()
    assert "tess.go@usc.edu.ph" in body and "ramon.uy@usc.edu.ph" not in body
    fragment = client.get(url, {"q": "uy"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="account-table"')
    assert "ramon.uy@usc.edu.ph" in fragment and "<html" not in fragment
    assert "No account matches" in client.get(url, {"q": "nobody"}).content.decode()


@pytest.mark.django_db
def test_list_suggests_the_record_with_the_same_email(client_for, front_desk_user, account):
    match = PatientFactory(email="Lea.Dizon@usc.edu.ph", id_number="21990077")
    body = client_for(front_desk_user).get(reverse("patients:portal_accounts")).content.decode()
    assert "21990077" in body and "same email" in body
    assert f"?patient={match.pk}" in body


@pytest.mark.django_db
def test_list_from_a_chart_links_rows_to_that_record(client_for, front_desk_user, account, record):
    client = client_for(front_desk_user)
    body = client.get(reverse("patients:portal_accounts"), {"for_patient": record.pk})
    body = body.content.decode()
    assert "Choosing the account to link to" in body
    assert f"{reverse('patients:account_link', args=[account.pk])}?patient={record.pk}" in body
    # Bad input is ignored, never a 500.
    for bad in ("abc", "-1", "999999"):
        response = client.get(reverse("patients:portal_accounts"), {"for_patient": bad})
        assert response.status_code == 200
        assert "Choosing the account" not in response.content.decode()


@pytest.mark.django_db
def test_list_query_count_does_not_grow(
    client_for, front_desk_user, make_user, django_assert_max_num_queries
):
    for i in range(3):
        make_user(Role.PATIENT, email=f"few{i}@usc.edu.ph")
        PatientFactory(email=f"few{i}@usc.edu.ph")
    client = client_for(front_desk_user)
    url = reverse("patients:portal_accounts")
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(40):
        make_user(Role.PATIENT, email=f"many{i}@usc.edu.ph")
        if i % 2:
            PatientFactory(email=f"many{i}@usc.edu.ph")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    body = response.content.decode()
    assert body.count("Review and link") + body.count("Find record") == 25
    assert "Page 1 of 2" in body
    assert len(few.captured_queries) <= 15  # includes the audit event for the suggested records


@pytest.mark.django_db
def test_names_are_escaped(client_for, front_desk_user, make_user):
    evil = make_user(
        Role.PATIENT,
        email="evil@usc.edu.ph",
        first_name="<script>alert(1)</script>",
        last_name='"><img src=x>',
    )
    PatientFactory(first_name="<b>Bold</b>", last_name="<i>Name</i>", email="evil@usc.edu.ph")
    client = client_for(front_desk_user)
    for response in (
        client.get(reverse("patients:portal_accounts")),
        client.get(reverse("patients:account_link", args=[evil.pk])),
        client.get(reverse("patients:account_link", args=[evil.pk]), {"q": "<script>"}),
    ):
        body = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert(1)" not in body and "<img src=x>" not in body
        assert "<b>Bold</b>" not in body
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
        in client.get(reverse("patients:portal_accounts")).content.decode()
    )


# --- The link page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_link_page_suggests_records_and_searches_with_htmx(
    client_for, front_desk_user, account, record
):
    other = PatientFactory(first_name="Marco", last_name="Polo", id_number="21990002")
    client = client_for(front_desk_user)
    url = reverse("patients:account_link", args=[account.pk])
    body = client.get(url).content.decode()
    assert "21990001" in body  # same name as the account, suggested without a search
    assert "21990002" not in body
    fragment = client.get(
        url, {"q": "21990002"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="patient-results"
    )
    fragment = fragment.content.decode()
    assert fragment.lstrip().startswith('<div id="patient-results"') and "Polo" in fragment
    assert "<html" not in fragment
    confirm = client.get(
        url, {"patient": other.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="link-confirm"
    ).content.decode()
    assert confirm.lstrip().startswith('<section id="link-confirm"')
    assert "21990002" in confirm and "differs" in confirm
    # Another person's name: front desk cannot make this link alone (issue #11).
    assert 'id="needs-clinician"' in confirm and "Link account to this record" not in confirm
    same = client.get(
        url, {"patient": record.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="link-confirm"
    ).content.decode()
    assert "Link account to this record" in same and "needs-clinician" not in same


@pytest.mark.django_db
def test_a_record_that_already_has_an_account_cannot_be_selected(
    client_for, front_desk_user, account, patient
):
    client = client_for(front_desk_user)
    url = reverse("patients:account_link", args=[account.pk])
    body = client.get(url, {"q": patient.id_number}).content.decode()
    assert "Has an account" in body
    body = client.get(url, {"patient": patient.pk}).content.decode()
    assert "already has a portal account" in body and "Link account to this record" not in body


@pytest.mark.django_db
def test_link_success_notifies_and_the_patient_sees_their_record(
    client_for, front_desk_user, account, record, django_capture_on_commit_callbacks
):
    portal = client_for(account)
    before = portal.get(reverse("patients:portal"))
    assert before.status_code == 200
    assert "will be connected by the clinic" in before.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _link(client_for(front_desk_user), account, record)
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:chart", args=[record.pk])
    record.refresh_from_db()
    assert record.user == account
    event = AuditEvent.objects.filter(patient_id=record.pk, actor=front_desk_user).first()
    assert event.action == "update" and event.detail["portal_account_linked"] is True
    note = Notification.objects.get(user=account)
    assert note.title == "Your health record is now connected"
    # The account holder, and the record's own email (it differs), are both told.
    assert sorted(m.to for m in mail.outbox) == sorted([[account.email], [record.email]])
    assert all("21990001" not in m.body for m in mail.outbox)  # no record details by email
    after = portal.get(reverse("patients:portal"))
    assert after.status_code == 200 and "21990001" in after.content.decode()
    assert portal.get(reverse("patients:portal_visits")).status_code == 200
    # It left the waiting list, and the chart shows the linked account.
    staff = client_for(front_desk_user)
    assert account.email not in staff.get(reverse("patients:portal_accounts")).content.decode()
    chart = staff.get(reverse("patients:chart", args=[record.pk])).content.decode()
    assert account.email in chart and "Unlink account" in chart


@pytest.mark.django_db
def test_identity_must_be_confirmed_and_patient_chosen(
    client_for, front_desk_user, account, record
):
    client = client_for(front_desk_user)
    url = reverse("patients:account_link", args=[account.pk])
    response = client.post(url, {"patient": record.pk})
    assert response.status_code == 422 and "checked the person" in response.content.decode()
    for bad in ("", "abc", "999999"):
        response = client.post(url, {"patient": bad, "identity_checked": "on"})
        assert response.status_code == 422, bad
        assert "Choose the patient" in response.content.decode()
    record.refresh_from_db()
    assert record.user is None
    assert not Notification.objects.filter(user=account).exists()


@pytest.mark.django_db
def test_refused_when_the_record_already_has_an_account(
    client_for, front_desk_user, account, patient
):
    response = _link(client_for(front_desk_user), account, patient)
    assert response.status_code == 422
    assert "already has a portal account" in response.content.decode()
    patient.refresh_from_db()
    assert patient.user.email == "student.persona@usc.edu.ph"


@pytest.mark.django_db
def test_refused_when_the_account_is_already_linked(client_for, front_desk_user, patient, record):
    response = _link(client_for(front_desk_user), patient.user, record)
    assert response.status_code == 422
    assert "already linked" in response.content.decode()
    record.refresh_from_db()
    assert record.user is None


@pytest.mark.django_db
def test_refused_for_an_unconfirmed_account(front_desk_user, make_user, record):
    pending = make_user(Role.PATIENT, email="pending@usc.edu.ph", is_active=False)
    with pytest.raises(ValidationError, match="not active"):
        patient_accounts.patient_link_account(actor=front_desk_user, patient=record, user=pending)
    record.refresh_from_db()
    assert record.user is None


@pytest.mark.django_db
def test_the_database_refuses_one_account_on_two_records(patient, record):
    record.user_id = patient.user_id
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save(update_fields=["user"])


# --- Unlink ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_unlink_with_confirmation(client_for, front_desk_user, patient, patient_user):
    client = client_for(front_desk_user)
    url = reverse("patients:account_unlink", args=[patient.pk])
    page = client.get(url).content.decode()
    assert "Unlink the portal account?" in page and patient_user.email in page
    response = client.post(url)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.user is None
    assert User.objects.filter(pk=patient_user.pk, is_active=True).exists()  # account stays
    event = AuditEvent.objects.filter(patient_id=patient.pk, actor=front_desk_user).first()
    assert event.detail == {"portal_account": patient_user.email, "portal_account_linked": False}
    assert Notification.objects.filter(user=patient_user).exists()
    assert patient_user.email in client.get(reverse("patients:portal_accounts")).content.decode()
    # The former holder is told what happens next, not "not found".
    portal = client_for(patient_user).get(reverse("patients:portal"))
    assert (
        portal.status_code == 200 and "will be connected by the clinic" in portal.content.decode()
    )
    # Nothing left to unlink: a clear message, no 500.
    again = client.post(url, follow=True)
    assert again.status_code == 200 and "no portal account to unlink" in again.content.decode()
    assert client.get(url).status_code == 302


# --- Race ------------------------------------------------------------------------------


def _race(calls):
    results, barrier = [], threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait()
            call()
            results.append("ok")
        except ValidationError as exc:
            results.append(exc.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_accounts_linked_to_one_record_at_once_only_one_wins(
    front_desk_user, nurse_user, make_user
):
    record = PatientFactory()
    names = {"first_name": record.first_name, "last_name": record.last_name}
    first = make_user(Role.PATIENT, email="first@usc.edu.ph", **names)
    second = make_user(Role.PATIENT, email="second@usc.edu.ph", **names)
    results = _race(
        [
            lambda: patient_accounts.patient_link_account(
                actor=front_desk_user, patient=record, user=first
            ),
            lambda: patient_accounts.patient_link_account(
                actor=nurse_user, patient=record, user=second
            ),
        ]
    )
    assert results.count("ok") == 1, results
    assert any("already has a portal account" in r for r in results), results
    record.refresh_from_db()
    assert record.user_id in (first.pk, second.pk)
    assert Patient.objects.filter(user__in=[first, second]).count() == 1
    assert (
        AuditEvent.objects.filter(patient_id=record.pk, detail__portal_account_linked=True).count()
        == 1
    )
    assert Notification.objects.filter(user__in=[first, second]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_account_linked_to_two_records_at_once_only_one_wins(
    front_desk_user, nurse_user, make_user
):
    one, two = PatientFactory(), PatientFactory()
    holder = make_user(Role.PATIENT, email="holder@usc.edu.ph")
    results = _race(
        [
            lambda: patient_accounts.patient_link_account(
                actor=front_desk_user, patient=one, user=holder
            ),
            lambda: patient_accounts.patient_link_account(
                actor=nurse_user, patient=two, user=holder
            ),
        ]
    )
    assert results.count("ok") == 1, results
    assert Patient.objects.filter(user=holder).count() == 1


# --- The patient without a record ------------------------------------------------------


@pytest.mark.django_db
def test_portal_pages_explain_what_happens_next(client_for, account):
    client = client_for(account)
    for name in ("portal", "portal_visits", "portal_certificates", "portal_profile"):
        response = client.get(reverse(f"patients:{name}"))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "will be connected by the clinic" in body and "university ID" in body
    home = client.get(reverse("accounts:home")).content.decode()
    assert "the clinic will connect your record" in home


@pytest.mark.django_db
def test_front_desk_dashboard_counts_accounts_awaiting_a_record(
    client_for, front_desk_user, account
):
    body = client_for(front_desk_user).get(reverse("accounts:home")).content.decode()
    assert "awaiting a patient record" in body and reverse("patients:portal_accounts") in body


SIGNUP = {
    "email": "lea.dizon@usc.edu.ph",
    "password": "a-very-long-pass-2026",
    "id_number": "21990001",
    "first_name": "Lea",
    "last_name": "Dizon",
    "sex": "F",
    "birth_date": "2004-09-09",
    "patient_type": "student",
}


@pytest.mark.django_db
def test_signup_that_does_not_match_the_record_waits_for_the_clinic(client, record):
    # The record has birth date 2003-04-05 and another email: no automatic link, and the
    # answer is the same as for a match (it does not reveal whose ID number this is).
    response = client.post(reverse("patients:signup"), SIGNUP)
    assert response.status_code == 200 and b"Check your email" in response.content
    user = User.objects.get(email="lea.dizon@usc.edu.ph")
    record.refresh_from_db()
    assert record.user is None
    assert Patient.objects.filter(id_number="21990001").count() == 1  # no duplicate record
    assert not Patient.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_seed_adds_one_unlinked_account_idempotently():
    from io import StringIO

    from accounts import seed as accounts_seed
    from patients import seed as patients_seed
    from patients.selectors import portal_accounts_awaiting_record

    out = StringIO()
    accounts_seed.run(stdout=out)
    patients_seed.run(stdout=out)
    patients_seed.run(stdout=out)
    assert User.objects.filter(email=patients_seed.UNLINKED_EMAIL).count() == 1
    assert list(portal_accounts_awaiting_record().values_list("email", flat=True)) == [
        patients_seed.UNLINKED_EMAIL
    ]
    # A demo record shares the name, so staff have a candidate to compare.
    account = User.objects.get(email=patients_seed.UNLINKED_EMAIL)
    from patients.selectors import link_candidates

    assert link_candidates(account)
