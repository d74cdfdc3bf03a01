"""The chart timeline shows the newest 20 visits and loads older ones on demand (issue 15):
the whole history stays reachable, with HTMX (appended in place) and without (?page=N)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from patients.models import Visit

pytestmark = pytest.mark.django_db

VISIT_ID = re.compile(r'href="/patients/visits/(\d+)/"')


@pytest.fixture
def history(patient, doctor_user):
    now = timezone.now()
    Visit.objects.bulk_create(
        [
            Visit(
                patient=patient,
                kind="medical",
                provider=doctor_user,
                started_at=now - timedelta(days=i),
                chief_complaint=f"complaint {i:02d}",
            )
            for i in range(45)
        ]
    )
    return list(Visit.objects.filter(patient=patient).order_by("-started_at", "-id"))


def _ids(body: str) -> list[int]:
    return [int(x) for x in VISIT_ID.findall(body)]


def test_show_older_visits_reaches_the_whole_history_with_htmx(
    patient, history, doctor_user, client_for
):
    c = client_for(doctor_user)
    body = c.get(reverse("patients:chart", args=[patient.pk])).content.decode()
    seen = _ids(body)
    assert seen == [v.pk for v in history[:20]]
    url = reverse("patients:chart_tab", args=[patient.pk, "timeline"])
    assert f'hx-get="{url}?page=2&amp;more=1"' in body and 'hx-target="closest li"' in body
    page = 2
    while True:
        fragment = c.get(f"{url}?page={page}&more=1", HTTP_HX_REQUEST="true").content.decode()
        assert '<nav class="tabs"' not in fragment and 'id="chart-tab"' not in fragment
        assert fragment.lstrip().startswith('<li class="timeline-item')
        seen += _ids(fragment)
        if "Show older visits" not in fragment:
            break
        assert f"?page={page + 1}&amp;more=1" in fragment
        page += 1
    assert page == 3
    assert seen == [v.pk for v in history]  # every visit once, newest first


def test_without_javascript_older_visits_are_pages(patient, history, doctor_user, client_for):
    c = client_for(doctor_user)
    url = reverse("patients:chart_tab", args=[patient.pk, "timeline"])
    page3 = c.get(f"{url}?page=3").content.decode()
    assert _ids(page3) == [v.pk for v in history[40:]]
    assert "Show older visits" not in page3 and "Newest visits" in page3
    assert 'id="chart-tab"' in page3  # the whole chart page
    beyond = c.get(f"{url}?page=9").content.decode()
    assert _ids(beyond) == [] and "No older visits" in beyond and "Newest visits" in beyond
    for bad in ("abc", "0", "-1", "1e309", "99999999999999999999"):
        response = c.get(f"{url}?page={bad}")
        assert response.status_code == 200


def test_loading_more_is_audited_like_the_chart(patient, history, doctor_user, client_for):
    c = client_for(doctor_user)
    before = AuditEvent.objects.filter(patient_id=patient.pk, action="read").count()
    url = reverse("patients:chart_tab", args=[patient.pk, "timeline"])
    c.get(f"{url}?page=2&more=1", HTTP_HX_REQUEST="true")
    assert AuditEvent.objects.filter(patient_id=patient.pk, action="read").count() == before + 1


def test_load_more_needs_clinical_access(patient, history, front_desk_user, client_for):
    url = reverse("patients:chart_tab", args=[patient.pk, "timeline"])
    response = client_for(front_desk_user).get(f"{url}?page=2&more=1", HTTP_HX_REQUEST="true")
    assert response.status_code in (403, 404)
    assert not _ids(response.content.decode())


def test_first_batch_does_not_count_the_history(
    patient, history, doctor_user, client_for, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = client_for(doctor_user)
    c.get(reverse("patients:chart", args=[patient.pk]))
    with CaptureQueriesContext(connection) as queries:
        c.get(reverse("patients:chart", args=[patient.pk]))
    assert not any(
        "COUNT(" in q["sql"] and "patients_visit" in q["sql"] for q in queries.captured_queries
    )
