"""Sign-in, lockout, session rules, password policy and reset."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _login(client, email, password):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def test_login_with_email_case_insensitive_rotates_session_and_audits():
    user = UserFactory(role=Role.NURSE, email="nurse.ana@usc.edu.ph")
    client = Client()
    client.get(reverse("accounts:login"))
    before = client.session.session_key
    response = _login(client, "Nurse.Ana@USC.edu.ph", TEST_PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")
    assert client.session.session_key != before  # new key at login (fixation defence)
    assert AuditEvent.objects.filter(actor=user, action="login").exists()


def test_wrong_password_is_refused_and_audited():
    user = UserFactory(role=Role.DOCTOR)
    response = _login(Client(), user.email, "not-the-password-1")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    event = AuditEvent.objects.get(action="login_failed")
    assert event.actor_email == user.email and event.allowed is False


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_refuses_even_the_right_password():
    user = UserFactory(role=Role.NURSE)
    client = Client()
    for _ in range(3):
        _login(client, user.email, "wrong-password-xyz")
    response = _login(client, user.email, TEST_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_is_per_ip_too():
    users = [UserFactory(role=Role.NURSE) for _ in range(3)]
    client = Client(REMOTE_ADDR="203.0.113.9")
    for u in users:  # one failure each on three accounts, same address
        _login(client, u.email, "wrong-password-xyz")
    fresh = UserFactory(role=Role.DOCTOR)
    assert _login(client, fresh.email, TEST_PASSWORD).status_code == 429
    # Another address can still sign in to that account.
    assert _login(Client(REMOTE_ADDR="198.51.100.7"), fresh.email, TEST_PASSWORD).status_code == 302


def test_anonymous_is_sent_to_login():
    response = Client().get(reverse("accounts:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_anonymous_htmx_request_gets_hx_redirect():
    response = Client().get(reverse("accounts:notifications"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))


def test_wrong_role_gets_403_and_a_denied_event(client_for, nurse_user):
    response = client_for(nurse_user).get(reverse("accounts:user_list"))
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="denied")
    assert event.actor == nurse_user and event.detail["permission"] == "accounts.manage_users"
    assert "Not allowed" in response.content.decode()


def test_idle_staff_session_times_out(client_for, doctor_user, settings):
    client = client_for(doctor_user)
    assert client.get(reverse("accounts:home")).status_code == 200
    session = client.session
    session["last_activity"] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT_STAFF - 5
    session.save()
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    assert client.get(reverse("accounts:home")).status_code == 302  # really signed out


def test_polling_does_not_keep_a_session_alive(client_for, doctor_user, settings):
    client = client_for(doctor_user)
    old = int(time.time()) - settings.SESSION_IDLE_TIMEOUT_STAFF + 60
    session = client.session
    session["last_activity"] = old
    session.save()
    client.get(reverse("accounts:notification_bell"), HTTP_HX_REQUEST="true", HTTP_X_POLL="1")
    assert client.session["last_activity"] == old


def test_patient_timeout_is_longer_than_staff(client_for, patient_user, settings):
    client = client_for(patient_user)
    session = client.session
    session["last_activity"] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT_STAFF - 5
    session.save()
    assert settings.SESSION_IDLE_TIMEOUT_PATIENT > settings.SESSION_IDLE_TIMEOUT_STAFF
    assert client.get(reverse("accounts:home")).status_code == 200


def test_password_change_enforces_length_and_similarity(client_for, nurse_user):
    client = client_for(nurse_user)
    url = reverse("accounts:password_change")
    short = client.post(
        url,
        {"old_password": TEST_PASSWORD, "new_password1": "Short-pw1", "new_password2": "Short-pw1"},
    )
    assert "at least 12 characters" in short.content.decode()
    similar = nurse_user.email  # long enough, but the same as the email address
    resp = client.post(
        url, {"old_password": TEST_PASSWORD, "new_password1": similar, "new_password2": similar}
    )
    assert "too similar to the email address" in resp.content.decode()
    good = client.post(
        url,
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "violet-harbor-lantern-88",
            "new_password2": "violet-harbor-lantern-88",
        },
    )
    assert good.status_code == 302
    nurse_user.refresh_from_db()
    assert nurse_user.check_password("violet-harbor-lantern-88")


def test_password_reset_by_email_link_works_once(mailoutbox):
    user = UserFactory(role=Role.PATIENT, email="pat.reset@usc.edu.ph")
    client = Client()
    client.post(reverse("accounts:password_reset"), {"email": "pat.reset@usc.edu.ph"})
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    link = re.search(r"https?://[^/]+(/accounts/password/reset/[^\s]+/)", message.body).group(1)
    page = client.get(link, follow=True)
    set_url = page.redirect_chain[-1][0]
    done = client.post(
        set_url,
        {"new_password1": "mango-river-station-41", "new_password2": "mango-river-station-41"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("mango-river-station-41")
    # The link cannot be used twice.
    again = Client().get(link, follow=True)
    assert "expired" in again.content.decode()


def test_password_reset_for_unknown_email_reveals_nothing(mailoutbox):
    response = Client().post(
        reverse("accounts:password_reset"), {"email": "nobody@usc.edu.ph"}, follow=True
    )
    assert response.status_code == 200 and len(mailoutbox) == 0
    assert "If an account uses that address" in response.content.decode()


def test_security_headers_and_strict_csp():
    response = Client().get(reverse("accounts:login"))
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]
    body = response.content.decode()
    assert "<script>" not in body and " style=" not in body


def test_friendly_404_page(client_for, nurse_user):
    response = client_for(nurse_user).get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_navigation_highlights_only_the_closest_entry(rf, inventory_user):
    from django.urls import reverse

    from accounts.context_processors import navigation

    request = rf.get(reverse("inventory:expiry"))
    request.user = inventory_user
    items = navigation(request)["nav_items"]
    labels = [i["label"] for i in items]
    assert "Stock" in labels and "Expiry" in labels  # /inventory/ is a prefix of /inventory/expiry/
    assert [i["label"] for i in items if i["active"]] == ["Expiry"]
    request = rf.get("/")
    request.user = inventory_user
    assert [i["label"] for i in navigation(request)["nav_items"] if i["active"]] == ["Home"]


@override_settings(AXES_FAILURE_LIMIT=5)
def test_signing_in_to_ones_own_account_does_not_forgive_guesses_at_another():
    victim = UserFactory(role=Role.ADMIN, email="victim.admin@usc.edu.ph")
    attacker = UserFactory(role=Role.PATIENT, email="attacker.student@usc.edu.ph")
    address = "203.0.113.66"
    for attempt in range(4):
        assert (
            _login(Client(REMOTE_ADDR=address), victim.email, f"guess-{attempt}-xxxxxx").status_code
            == 200
        )
    assert _login(Client(REMOTE_ADDR=address), attacker.email, TEST_PASSWORD).status_code == 302
    # The fifth guess still counts as the fifth: locked.
    assert _login(Client(REMOTE_ADDR=address), victim.email, "guess-5-xxxxxx").status_code == 429
    assert (
        _login(Client(REMOTE_ADDR="198.51.100.20"), victim.email, TEST_PASSWORD).status_code == 429
    )


@override_settings(AXES_FAILURE_LIMIT=5)
def test_a_successful_sign_in_clears_that_accounts_own_failures():
    user = UserFactory(role=Role.NURSE)
    for _ in range(4):
        _login(Client(REMOTE_ADDR="198.51.100.30"), user.email, "typo-password-xx")
    assert _login(Client(REMOTE_ADDR="198.51.100.30"), user.email, TEST_PASSWORD).status_code == 302
    for _ in range(4):  # a fresh allowance, not one last try
        assert (
            _login(Client(REMOTE_ADDR="198.51.100.31"), user.email, "typo-password-xx").status_code
            == 200
        )


@override_settings(AXES_FAILURE_LIMIT=3)
def test_changing_the_capitals_of_the_email_does_not_escape_the_lockout():
    user = UserFactory(role=Role.NURSE, email="nurse.case@usc.edu.ph")
    for i, spelling in enumerate(
        ["nurse.case@usc.edu.ph", "NURSE.case@usc.edu.ph", " Nurse.Case@USC.edu.ph "]
    ):
        _login(Client(REMOTE_ADDR=f"10.0.0.{i + 1}"), spelling, "wrong-password-xyz")
    for spelling in ["nurse.case@usc.edu.ph", "Nurse.Case@usc.edu.ph"]:
        assert _login(Client(REMOTE_ADDR="10.0.3.1"), spelling, TEST_PASSWORD).status_code == 429
    assert user.email == "nurse.case@usc.edu.ph"


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_COUNT=1)
def test_behind_the_proxy_each_client_address_is_locked_separately():
    proxy = "172.18.0.5"
    attacker = "198.51.100.1"
    for _ in range(3):  # different accounts, one client behind the proxy
        client = Client(
            REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"10.9.9.{_}, {attacker}"
        )  # left part is spoofed
        _login(client, UserFactory(role=Role.NURSE).email, "wrong-password-xx1")
    bystander = UserFactory(role=Role.DOCTOR)
    assert (
        _login(
            Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.77"),
            bystander.email,
            TEST_PASSWORD,
        ).status_code
        == 302
    )
    # The attacker's own address stays locked whatever it puts in front.
    spoofing = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.77, {attacker}")
    assert _login(spoofing, UserFactory(role=Role.DOCTOR).email, TEST_PASSWORD).status_code == 429
    event = AuditEvent.objects.filter(action="login").latest("id")
    assert event.ip == "192.0.2.77"


def test_audit_ip_ignores_client_supplied_forwarded_for_without_a_trusted_proxy():
    user = UserFactory(role=Role.NURSE)
    _login(
        Client(REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR="1.2.3.4"),
        user.email,
        TEST_PASSWORD,
    )
    assert AuditEvent.objects.filter(action="login").latest("id").ip == "203.0.113.50"
    with override_settings(TRUSTED_PROXY_COUNT=1):
        _login(
            Client(REMOTE_ADDR="203.0.113.51", HTTP_X_FORWARDED_FOR="not an ip <script>"),
            user.email,
            "wrong-pass-xxxxx",
        )
    assert AuditEvent.objects.filter(action="login_failed").latest("id").ip == "203.0.113.51"


def test_password_change_is_audited(client_for, nurse_user):
    client = client_for(nurse_user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "a-brand-new-passphrase-77",
            "new_password2": "a-brand-new-passphrase-77",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="update").latest("id")
    assert event.actor == nurse_user and event.object_id == str(nurse_user.pk)
    assert event.detail == {"password": "changed"}
    assert "a-brand-new" not in str(event.detail)


def _reset_link(message) -> str:
    return re.search(r"https?://[^/]+(/accounts/password/reset/[^\s]+/)", message.body).group(1)


def _choose_password(link: str, password: str = "mango-river-station-41"):
    client = Client()
    page = client.get(link, follow=True)
    return client.post(
        page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )


def test_password_reset_is_audited(mailoutbox):
    user = UserFactory(role=Role.PATIENT, email="pat.audit@usc.edu.ph")
    Client().post(reverse("accounts:password_reset"), {"email": user.email})
    assert _choose_password(_reset_link(mailoutbox[0])).status_code == 302
    event = AuditEvent.objects.filter(action="update").latest("id")
    assert event.actor == user and event.detail == {"password": "reset"}


def test_an_invited_user_whose_link_expired_can_ask_for_a_new_one(
    client_for, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(
            reverse("accounts:user_invite"),
            {
                "email": "new.staff@usc.edu.ph",
                "first_name": "New",
                "last_name": "Staff",
                "role": "nurse",
            },
        )
    mailoutbox.clear()
    Client().post(reverse("accounts:password_reset"), {"email": "New.Staff@usc.edu.ph"})
    assert len(mailoutbox) == 1 and "choose the password" in mailoutbox[0].body
    assert _choose_password(_reset_link(mailoutbox[0])).status_code == 302
    invited = AuditEvent.objects.filter(action="update").latest("id")
    assert invited.actor.email == "new.staff@usc.edu.ph"
    assert invited.detail == {"password": "set from invitation"}


def test_password_reset_skips_deactivated_and_password_less_accounts_that_signed_in(mailoutbox):
    from django.utils import timezone

    UserFactory(role=Role.NURSE, email="gone@usc.edu.ph", is_active=False)
    signed_in = UserFactory(role=Role.NURSE, email="sso.like@usc.edu.ph", last_login=timezone.now())
    signed_in.set_unusable_password()
    signed_in.save()
    for email in ("gone@usc.edu.ph", "sso.like@usc.edu.ph"):
        Client().post(reverse("accounts:password_reset"), {"email": email})
    assert mailoutbox == []


def test_htmx_never_copies_style_attributes_during_a_swap(client_for, nurse_user):
    """Settling a ``style`` attribute would break the strict CSP (style-src 'self')."""
    import html
    import json

    page = client_for(nurse_user).get(reverse("accounts:home")).content.decode()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', page).group(1)
    config = json.loads(html.unescape(meta))
    assert config["attributesToSettle"] == ["class", "width", "height"]
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
