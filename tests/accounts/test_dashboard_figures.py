"""Clinic-wide dashboard figures are shared for 30 seconds; a user's own figures never are
(issue 15: dashboards current to the minute, cheaper home pages)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Notification
from tests.patients.factories import CertificateFactory
from uscpis import registry
from uscpis.registry import CLINIC_FIGURE_SECONDS, clinic_figure

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    from tests.patients.factories import PatientFactory

    return PatientFactory(first_name="Pat", last_name="Student")


def test_clinic_figure_is_computed_once_and_shared():
    calls = []

    def compute():
        calls.append(1)
        return 0  # a falsy value is cached too

    assert clinic_figure("test.figure", compute) == 0
    assert clinic_figure("test.figure", compute) == 0
    assert len(calls) == 1
    assert clinic_figure("test.other", compute) == 0 and len(calls) == 2
    assert 0 < CLINIC_FIGURE_SECONDS <= 60  # current to the minute


def test_clinic_figure_expires(monkeypatch):
    values = iter([1, 2])
    assert clinic_figure("test.expiring", lambda: next(values), seconds=1) == 1
    cache.delete(f"dashboard:{registry.settings.CLINIC_FIGURE_NAMESPACE}:test.expiring")  # = expiry
    assert clinic_figure("test.expiring", lambda: next(values), seconds=1) == 2


def test_clinic_figure_survives_a_broken_cache(monkeypatch):
    class Broken:
        def get(self, *a, **k):
            raise ConnectionError("redis down")

        set = get

    monkeypatch.setattr(registry, "django_cache", Broken())
    assert clinic_figure("test.broken", lambda: 7) == 7


def _cards(response) -> dict:
    return {c.title: c.value for c in response.context["cards"]}


def test_home_page_shares_clinic_counts_but_not_personal_ones(
    client_for, doctor_user, nurse_user, patient
):
    """A home page reuses the pending-certificates count computed moments ago (for anyone),
    while unread notifications and unsigned drafts are the user's own, counted live."""
    CertificateFactory(patient=patient, requested_by=nurse_user, purpose="Sports")
    c = client_for(doctor_user)
    assert _cards(c.get(reverse("accounts:home")))["Certificates to decide"] == 1
    CertificateFactory(patient=patient, requested_by=nurse_user, purpose="PE")
    Notification.objects.create(user=doctor_user, title="Lab result ready")
    with CaptureQueriesContext(connection) as again:
        cards = _cards(c.get(reverse("accounts:home")))
    sqls = [q["sql"] for q in again.captured_queries]
    assert not any("patients_medicalcertificate" in s for s in sqls)  # shared figure
    assert cards["Certificates to decide"] == 1  # up to 30 s old
    assert cards["Unread notifications"] == 1  # personal: live
    assert any('"patients_visit"' in s for s in sqls)  # my drafts: live
    cache.delete(
        f"dashboard:{registry.settings.CLINIC_FIGURE_NAMESPACE}:patients.certificates_pending"
    )
    assert _cards(c.get(reverse("accounts:home")))["Certificates to decide"] == 2


def test_registered_today_is_recounted_on_a_new_day(client_for, front_desk_user, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from patients import dashboard

    c = client_for(front_desk_user)
    c.get(reverse("accounts:home"))
    with CaptureQueriesContext(connection) as same_day:
        c.get(reverse("accounts:home"))
    assert not any('FROM "patients_patient" WHERE' in q["sql"] for q in same_day.captured_queries)
    tomorrow = timezone.localdate() + timedelta(days=1)
    monkeypatch.setattr(dashboard.timezone, "localdate", lambda: tomorrow)
    with CaptureQueriesContext(connection) as next_day:
        c.get(reverse("accounts:home"))
    assert any('FROM "patients_patient" WHERE' in q["sql"] for q in next_day.captured_queries)


def test_home_page_reads_the_shared_figures_in_one_round_trip(client_for, doctor_user, monkeypatch):
    """The figures a role's home page read last time are fetched together; each is still
    read at this request (a figure that expired is counted again)."""
    c = client_for(doctor_user)
    first = _cards(c.get(reverse("accounts:home")))
    singles = []
    real_get = registry.django_cache.get

    def counting_get(key, *args, **kwargs):
        singles.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(registry.django_cache, "get", counting_get)
    assert _cards(c.get(reverse("accounts:home"))) == first
    assert not [k for k in singles if k.startswith("dashboard:")]
    cache.delete(
        f"dashboard:{registry.settings.CLINIC_FIGURE_NAMESPACE}:patients.certificates_pending"
    )
    with CaptureQueriesContext(connection) as again:
        c.get(reverse("accounts:home"))
    assert any("patients_medicalcertificate" in q["sql"] for q in again.captured_queries)


def test_stat_cards_show_values_as_the_template_did():
    from django.template import Context, Template

    from uscpis.registry import Card

    html = Template("{% load uscpis %}{% stat_cards cards %}").render(
        Context(
            {
                "cards": [
                    Card("Low <stock>", 1234, detail="a & b", url="/x/?a=1&b=2", tone="warn"),
                    Card("None yet", "None"),
                ]
            }
        )
    )
    assert (
        '<a class="stat tone-warn" href="/x/?a=1&amp;b=2"><div class="stat-title">Low &lt;stock&gt;'
        '</div><div class="stat-value">1234</div><div class="stat-detail">a &amp; b</div></a>'
    ) in html
    assert (
        '<a class="stat tone-neutral"><div class="stat-title">None yet</div>'
        '<div class="stat-value">None</div></a>'
    ) in html


def test_a_users_own_counts_are_live_and_counted_in_one_round_trip(client_for, doctor_user):
    """Unread notifications, unsigned drafts and today's appointments are the doctor's own:
    counted at every request (never shared or cached), all three in one statement sent once
    the role's home page has been seen."""
    from datetime import timedelta

    from django.utils import timezone

    from appointments.models import AppointmentStatus
    from appointments.selectors import local_day_bounds
    from patients.models import VisitStatus
    from tests.appointments.factories import AppointmentFactory, ProviderFactory
    from tests.factories import UserFactory
    from tests.patients.factories import VisitFactory

    c = client_for(doctor_user)
    assert _cards(c.get(reverse("accounts:home")))["My appointments today"] == 0  # learns
    mine, other = ProviderFactory(user=doctor_user), ProviderFactory()
    start, _ = local_day_bounds(timezone.localdate())
    for hour, status in [(8, "booked"), (9, "confirmed"), (10, AppointmentStatus.CANCELLED)]:
        AppointmentFactory(provider=mine, start=start + timedelta(hours=hour), status=status)
    AppointmentFactory(provider=other, start=start + timedelta(hours=8))
    AppointmentFactory(provider=mine, start=start + timedelta(days=1, hours=8))
    VisitFactory.create_batch(2, provider=doctor_user, status=VisitStatus.DRAFT)
    VisitFactory(
        provider=doctor_user,
        status=VisitStatus.SIGNED,
        signed_at=timezone.now(),
        signed_by=doctor_user,
    )
    VisitFactory(provider=UserFactory(), status=VisitStatus.DRAFT)
    unread = Notification.objects.create(user=doctor_user, title="Lab result ready")
    Notification.objects.create(user=doctor_user, title="Old", read_at=timezone.now())
    Notification.objects.create(user=UserFactory(), title="Someone else's")

    with CaptureQueriesContext(connection) as seen:
        cards = _cards(c.get(reverse("accounts:home")))

    assert cards["My appointments today"] == 2
    assert cards["My unsigned visits"] == 2
    assert cards["Unread notifications"] == 1
    counting = [q["sql"] for q in seen.captured_queries if "COUNT(*)" in q["sql"]]
    assert len(counting) == 1
    assert all(t in counting[0] for t in ("accounts_notification", "patients_visit", "appoint"))

    unread.read_at = timezone.now()
    unread.save()
    assert _cards(c.get(reverse("accounts:home")))["Unread notifications"] == 0  # live
