"""Analytics pages: permission matrix, exports, privacy of small counts, drill-downs with
PHI audit, syndrome editing, bad input, HTMX fragments."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from analytics.models import SyndromeGroup
from analytics.services.rollups import rollup_rebuild
from tests.analytics.factories import make_world

pytestmark = pytest.mark.django_db

A, D, DE, N, F, IM, B, P = (
    Role.ADMIN,
    Role.DOCTOR,
    Role.DENTIST,
    Role.NURSE,
    Role.FRONT_DESK,
    Role.INVENTORY_MANAGER,
    Role.BILLING_CLERK,
    Role.PATIENT,
)
VIEWERS = {A, D}
PAGES = [
    ("analytics:overview", {}, VIEWERS),
    ("analytics:visits", {}, VIEWERS),
    ("analytics:diagnoses", {}, VIEWERS),
    ("analytics:diagnosis_patients", {"code": "J06.9"}, {D}),
    ("analytics:productivity", {}, {A, D, DE, N}),
    ("analytics:inventory", {}, VIEWERS),
    ("analytics:financial", {}, {A, B}),
    ("analytics:quality", {}, VIEWERS),
    ("analytics:quality_rows", {"check": "no-visit"}, {D}),
    ("analytics:surveillance", {}, VIEWERS),
    ("analytics:syndromes", {}, {A}),
    ("analytics:syndrome_new", {}, {A}),
    ("analytics:syndrome_edit", {"pk": "group"}, {A}),
    ("analytics:forecasts", {}, VIEWERS),
    ("analytics:stock_forecast", {}, {A, D, DE, N, IM}),
]


@pytest.fixture
def world(db):
    from analytics.services.surveillance import syndromes_ensure_defaults

    syndromes_ensure_defaults()  # the data migration's rows are gone after a flushing test
    first = timezone.localdate() - timedelta(days=6)
    data = make_world(first, 3)
    rollup_rebuild(since=first - timedelta(days=1))
    data["group"] = SyndromeGroup.objects.get(slug="ili")
    return data


def _url(world, name, kwargs):
    kwargs = {k: world["group"].pk if v == "group" else v for k, v in kwargs.items()}
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("role", list(Role))
def test_permission_matrix(world, client_for, user_for_role, role):
    client = client_for(user_for_role(role))
    for name, kwargs, allowed in PAGES:
        response = client.get(_url(world, name, kwargs))
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (name, role, response.status_code)


def test_anonymous_is_sent_to_login(world, client):
    for name, kwargs, _ in PAGES:
        response = client.get(_url(world, name, kwargs))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


def test_overview_figures_and_college_filter(world, client_for, admin_user):
    client = client_for(admin_user)
    page = client.get(reverse("analytics:overview")).content.decode()
    for label in (
        "Visits today",
        "Visits this week",
        "Waiting now",
        "No-show rate",
        "Provider utilisation",
        "Certificates pending",
        "Low-stock items",
    ):
        assert label in page
    response = client.get(
        reverse("analytics:visits"),
        {
            "unit": "School of Business and Economics",
            "date_from": (timezone.localdate() - timedelta(days=30)).isoformat(),
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "college/department: School of Business and Economics" in body
    assert (
        'id="visits-by-unit"' in body
        and "School of Arts" not in body.split('id="visits-by-unit"')[1].split("</section>")[0]
    )


def test_htmx_filter_returns_the_dashboard_fragment(world, client_for, doctor_user):
    response = client_for(doctor_user).get(
        reverse("analytics:visits"),
        {"sex": "F"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="dashboard-body",
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="dashboard-body">')
    assert "<html" not in body


def test_bad_filters_show_an_error_not_a_500(world, client_for, admin_user):
    client = client_for(admin_user)
    for query in (
        {"date_from": "yesterday"},
        {"date_from": "2026-05-01", "date_to": "2026-01-01"},
        {"provider": "abc"},
        {"sex": "Q"},
        {"date_from": "1900-01-01"},
    ):
        response = client.get(reverse("analytics:visits"), query)
        assert response.status_code == 200, query
    assert (
        client.get(reverse("analytics:visits"), {"export": "csv", "chart": "nope"}).status_code
        == 404
    )


def test_chart_csv_matches_the_table(world, client_for, admin_user):
    client = client_for(admin_user)
    response = client.get(
        reverse("analytics:visits"), {"export": "csv", "chart": "visits-by-visit-kind"}
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Medical vs dental", "Visits"]
    from django.db.models import Sum

    from analytics.models import VisitFact

    total = VisitFact.objects.filter(day__gte=timezone.localdate() - timedelta(days=181)).aggregate(
        n=Sum("visits")
    )["n"]
    assert sum(int(r[1].replace(",", "")) for r in rows[1:]) == total
    assert AuditEvent.objects.filter(action="export", object_type="analytics.dashboard").exists()


def test_dashboard_pdf_export(world, client_for, admin_user):
    response = client_for(admin_user).get(reverse("analytics:overview"), {"export": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_small_counts_are_suppressed_for_non_clinical_viewers(
    world, client_for, admin_user, doctor_user
):
    query = {"export": "csv", "chart": "diagnoses-by-unit"}
    admin_rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client_for(admin_user)
                    .get(reverse("analytics:diagnoses"), query)
                    .streaming_content
                ).decode()
            )
        )
    )
    doctor_rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client_for(doctor_user)
                    .get(reverse("analytics:diagnoses"), query)
                    .streaming_content
                ).decode()
            )
        )
    )
    assert len(admin_rows) == len(doctor_rows) > 1
    admin_values = [r[1] for r in admin_rows[1:]]
    doctor_values = [int(r[1]) for r in doctor_rows[1:]]
    assert any(0 < v < 5 for v in doctor_values)
    for a, d in zip(admin_values, doctor_values, strict=True):
        assert a == ("<5" if 0 < d < 5 else str(d))


def test_drill_down_lists_patients_and_writes_a_phi_audit_event(world, client_for, doctor_user):
    response = client_for(doctor_user).get(reverse("analytics:diagnosis_patients", args=["J06.9"]))
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action="read", object_type="patients.patient").latest("id")
    assert event.detail["view"] == "analytics drill-down" and event.detail["patients"]
    assert (
        client_for(doctor_user)
        .get(reverse("analytics:diagnosis_patients", args=["ZZZ"]))
        .status_code
        == 404
    )


def test_drill_down_lists_every_visit_with_the_code_once_in_pages(
    world, client_for, doctor_user, monkeypatch
):
    from analytics.views import dashboards as views
    from patients.models import Diagnosis, Visit

    visits = Visit.objects.filter(diagnoses__icd10="J06.9")
    for v in visits:  # a second diagnosis on the same visit must not list it twice
        Diagnosis.objects.get_or_create(visit=v, icd10_id="A09", defaults={"is_primary": False})
    expected = sorted(visits.values_list("pk", flat=True))
    assert len(expected) >= 2
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    client = client_for(doctor_user)
    url = reverse("analytics:diagnosis_patients", args=["J06.9"])
    seen = []
    for number in range(1, len(expected) + 1):
        page = client.get(url, {"page": number}).context["page"]
        assert page.paginator.count == len(expected)
        seen += [v.pk for v in page]
    assert sorted(seen) == expected  # each once, none missing


def test_data_quality_counts_and_rows(world, client_for, doctor_user, admin_user):
    page = client_for(admin_user).get(reverse("analytics:quality")).content.decode()
    assert "Completed appointments without a visit" in page
    assert reverse("analytics:quality_rows", args=["unsigned"]) not in page  # admin: counts only
    client = client_for(doctor_user)
    response = client.get(reverse("analytics:quality_rows", args=["unsigned"]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(detail__view="analytics data quality").exists()
    assert client.get(reverse("analytics:quality_rows", args=["nope"])).status_code == 404


def test_provider_sees_only_own_productivity(world, client_for):
    doctor = world["doctor"].user
    nurse = world["nurse"].user
    body = client_for(doctor).get(reverse("analytics:productivity")).content.decode()
    table = body.split('id="productivity-table"')[1].split("</table>")[0]
    assert doctor.full_name in table and nurse.full_name not in table
    assert 'name="provider"' not in body  # no provider filter for providers


def test_admin_sees_every_provider(world, client_for, admin_user):
    body = client_for(admin_user).get(reverse("analytics:productivity")).content.decode()
    assert world["doctor"].user.full_name in body and world["nurse"].user.full_name in body


def test_doctor_overview_has_no_money(world, client_for, doctor_user):
    body = client_for(doctor_user).get(reverse("analytics:overview")).content.decode()
    assert "Revenue (net)" not in body and "Receivables now" not in body


def test_syndrome_edit_is_audited_and_recounts(
    world, client_for, admin_user, django_capture_on_commit_callbacks
):
    from analytics.models import SyndromeDaily

    client = client_for(admin_user)
    group = world["group"]
    bad = client.post(
        reverse("analytics:syndrome_edit", args=[group.pk]),
        {
            "name": group.name,
            "slug": group.slug,
            "codes": "10J; DROP",
            "min_cases": 3,
            "is_active": "on",
        },
    )
    assert bad.status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("analytics:syndrome_edit", args=[group.pk]),
            {
                "name": "Respiratory",
                "slug": group.slug,
                "codes": "J06, a09",
                "min_cases": 2,
                "is_active": "on",
            },
        )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.icd10_prefixes == ["J06", "A09"] and group.name == "Respiratory"
    event = AuditEvent.objects.filter(object_type="analytics.syndromegroup").latest("id")
    assert event.action == "update" and event.detail["before"]["name"] == "Influenza-like illness"
    assert SyndromeDaily.objects.filter(group=group).exists()


def test_surveillance_csv_is_a_weekly_notifiable_report(world, client_for, doctor_user):
    response = client_for(doctor_user).get(reverse("analytics:surveillance"), {"export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "Disease / syndrome" and rows[0][-1] == "Total"
    assert rows[0][2].startswith("MW") and len(rows[0]) == 2 + 12 + 1
    names = [r[0] for r in rows[1:]]
    assert "Dengue" in names and "Influenza-like illness" in names


def test_low_stock_page_links_to_the_stock_out_forecast(world, client_for, inventory_user):
    body = client_for(inventory_user).get(reverse("inventory:low_stock")).content.decode()
    assert reverse("analytics:stock_forecast") in body


def test_pages_have_no_inline_script_or_style(world, client_for, admin_user):
    client = client_for(admin_user)
    for name in (
        "analytics:overview",
        "analytics:visits",
        "analytics:diagnoses",
        "analytics:surveillance",
        "analytics:forecasts",
        "analytics:inventory",
        "analytics:productivity",
    ):
        body = client.get(reverse(name)).content.decode()
        assert "style=" not in body and "<style" not in body, name
        assert "<script>" not in body, name


@pytest.mark.parametrize(
    "name, limit",
    [
        ("analytics:overview", 40),
        ("analytics:visits", 20),
        ("analytics:diagnoses", 25),
        ("analytics:inventory", 15),
        ("analytics:surveillance", 25),
        ("analytics:forecasts", 30),
        ("analytics:productivity", 20),
    ],
)
def test_query_counts_do_not_grow_with_history(
    world, client_for, admin_user, django_assert_max_num_queries, name, limit
):
    client = client_for(admin_user)
    client.get(reverse(name))
    more = make_world(timezone.localdate() - timedelta(days=40), 5, seed=11)
    assert more
    rollup_rebuild(since=timezone.localdate() - timedelta(days=41))
    with django_assert_max_num_queries(limit):
        assert client.get(reverse(name)).status_code == 200
