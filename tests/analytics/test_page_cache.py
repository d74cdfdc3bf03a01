"""The analytics rendered-page cache (analytics/views/_common.py ``cached_page``): a viewer
gets the page rendered for their visibility class in the current minute and rollup
generation; another class never gets it; a rollup refresh shows at once; the drill-downs
that list patients are never cached (each view writes its PHI audit event)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from analytics.models import SyndromeGroup
from analytics.selectors import dashboards
from analytics.services.rollups import rollup_rebuild, rollup_refresh_day
from patients.models import Diagnosis, Icd10Code, Visit
from tests.analytics.factories import local, make_world
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    from analytics.services.surveillance import syndromes_ensure_defaults

    syndromes_ensure_defaults()
    first = timezone.localdate() - timedelta(days=6)
    data = make_world(first, 3)
    rollup_rebuild(since=first - timedelta(days=1))
    data["group"] = SyndromeGroup.objects.get(slug="ili")
    return data


@pytest.fixture
def frozen():
    """One minute bucket for the whole test."""
    with time_machine.travel(timezone.now(), tick=False):
        yield


def _body(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def _main(page: str) -> str:
    """The page below the shell (whose CSRF token is masked afresh on every request)."""
    return page.split('<main id="main" class="content">')[1]


def test_same_viewer_gets_the_cached_page_and_the_shell_stays_per_request(
    world, frozen, client_for, admin_user, monkeypatch
):
    client = client_for(admin_user)
    first = _body(client.get(reverse("analytics:overview")))

    def boom(*args, **kwargs):
        raise AssertionError("the cached page was computed again")

    monkeypatch.setattr(dashboards, "overview", boom)
    monkeypatch.setattr(dashboards, "visits_charts", boom)
    again = _body(client.get(reverse("analytics:overview")))
    assert _main(again) == _main(first) and "Visits today" in again
    # Another admin (same class) gets it too, under their own name and CSRF token.
    other = UserFactory(role=Role.ADMIN, first_name="Otto", last_name="Other")
    theirs = _body(client_for(other).get(reverse("analytics:overview")))
    assert "Otto" in theirs
    assert (
        theirs.split('<main id="main" class="content">')[1]
        == first.split('<main id="main" class="content">')[1]
    )
    # A different query string is a different page.
    with pytest.raises(AssertionError, match="computed again"):
        client.get(reverse("analytics:overview"), {"sex": "F"})


def test_htmx_fragment_is_cached_apart_from_the_page(world, frozen, client_for, doctor_user):
    client = client_for(doctor_user)
    page = _body(client.get(reverse("analytics:visits"), {"sex": "F"}))
    fragment = _body(client.get(reverse("analytics:visits"), {"sex": "F"}, HTTP_HX_REQUEST="true"))
    assert "<html" in page and "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="dashboard-body">')
    assert _main(_body(client.get(reverse("analytics:visits"), {"sex": "F"}))) == _main(page)


def test_another_visibility_class_never_gets_the_cached_html(
    world, frozen, client_for, admin_user, doctor_user
):
    # Filled by the admin (financial figures, small counts suppressed) ...
    admin_overview = _body(client_for(admin_user).get(reverse("analytics:overview")))
    admin_diagnoses = _body(client_for(admin_user).get(reverse("analytics:diagnoses")))
    assert "Revenue (net)" in admin_overview
    assert "&lt;5" in admin_diagnoses
    assert "Patients behind the top diagnoses" not in admin_diagnoses
    # ... the doctor (clinical, no money) gets their own rendering.
    doctor = client_for(doctor_user)
    doctor_overview = _body(doctor.get(reverse("analytics:overview")))
    doctor_diagnoses = _body(doctor.get(reverse("analytics:diagnoses")))
    assert "Revenue (net)" not in doctor_overview
    assert "Patients behind the top diagnoses" in doctor_diagnoses
    # And the other way round: the admin is still served theirs.
    assert "Revenue (net)" in _body(client_for(admin_user).get(reverse("analytics:overview")))


def test_own_productivity_is_cached_per_provider(world, frozen, client_for):
    doctor = world["doctor"].user
    other = UserFactory(role=Role.DOCTOR, first_name="Second", last_name="Doctor")
    mine = _body(client_for(doctor).get(reverse("analytics:productivity")))
    theirs = _body(client_for(other).get(reverse("analytics:productivity")))
    assert doctor.full_name in mine.split('id="productivity-table"')[1]
    assert doctor.full_name not in theirs


def test_a_rollup_refresh_shows_on_the_next_request(
    world, frozen, client_for, doctor_user, django_capture_on_commit_callbacks
):
    Icd10Code.objects.get_or_create(code="B05.9", defaults={"title": "Measles, cachetest"})
    client = client_for(doctor_user)
    url = reverse("analytics:diagnoses")
    assert "B05.9" not in _body(client.get(url))
    day = timezone.localdate() - timedelta(days=2)
    patient = Visit.objects.filter(provider=world["doctor"].user).first().patient
    for hour in range(9, 15):
        visit = Visit.objects.create(
            patient=patient,
            kind="medical",
            provider=world["doctor"].user,
            started_at=local(day, hour),
            status="signed",
            signed_at=local(day, hour, 30),
            signed_by=world["doctor"].user,
        )
        Diagnosis.objects.create(visit=visit, icd10_id="B05.9", is_primary=True)
    assert "B05.9" not in _body(client.get(url))  # not in the rollups yet
    with django_capture_on_commit_callbacks(execute=True):
        rollup_refresh_day(day=day)
    assert "B05.9" in _body(client.get(url))


def test_drill_downs_are_never_cached_each_view_is_audited(world, frozen, client_for, doctor_user):
    client = client_for(doctor_user)
    url = reverse("analytics:diagnosis_patients", args=["J06.9"])
    before = AuditEvent.objects.filter(detail__view="analytics drill-down").count()
    for _ in range(2):
        assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(detail__view="analytics drill-down").count() == before + 2


def test_exports_are_not_cached_and_stay_audited(world, frozen, client_for, admin_user):
    client = client_for(admin_user)
    client.get(reverse("analytics:overview"))
    for _ in range(2):
        response = client.get(reverse("analytics:overview"), {"export": "pdf"})
        assert response["Content-Type"] == "application/pdf"
    assert AuditEvent.objects.filter(object_type="analytics.dashboard").count() == 2


def test_the_cache_can_be_turned_off(world, frozen, client_for, admin_user, settings, monkeypatch):
    settings.ANALYTICS_PAGE_CACHE = False
    client = client_for(admin_user)
    client.get(reverse("analytics:overview"))
    monkeypatch.setattr(dashboards, "overview", lambda f, **kw: (_ for _ in ()).throw(RuntimeError))
    with pytest.raises(RuntimeError):
        client.get(reverse("analytics:overview"))
