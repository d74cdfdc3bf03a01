"""The dental chart: tooth selection on the visit page, the chart carried between visits."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, timezone

from patients import selectors
from patients.models import ToothRecord
from patients.services import visits
from tests.patients.factories import PatientFactory, VisitFactory


@pytest.mark.django_db
@pytest.mark.parametrize("tooth", ["²", "٣٦", "9" * 5000, "-1", "99", ""])
def test_visit_page_ignores_odd_tooth_numbers(dentist_user, dental_visit, client_for, tooth):
    response = client_for(dentist_user).get(
        reverse("patients:visit", args=[dental_visit.pk]), {"tooth": tooth}
    )
    assert response.status_code == 200
    assert response.context["selected_tooth"] is None


@pytest.mark.django_db
def test_visit_page_selects_a_valid_tooth(dentist_user, dental_visit, client_for):
    response = client_for(dentist_user).get(
        reverse("patients:visit", args=[dental_visit.pk]), {"tooth": "36"}
    )
    assert response.context["selected_tooth"] == 36


def _dental_visit(patient, dentist, *, days_ago: int, teeth: dict, sign: bool = True):
    visit = VisitFactory(
        patient=patient,
        provider=dentist,
        kind="dental",
        started_at=timezone.now() - timedelta(days=days_ago),
    )
    for tooth, fields in teeth.items():
        visits.tooth_record_set(actor=dentist, visit=visit, tooth=tooth, **fields)
    if sign:
        visits.visit_sign(actor=dentist, visit=visit)
        visit.refresh_from_db()
    return visit


@pytest.fixture
def first_dental_visit(patient, dentist_user):
    return _dental_visit(
        patient,
        dentist_user,
        days_ago=30,
        teeth={
            36: {"condition": "caries", "surfaces": "MO"},
            18: {"condition": "missing"},
            46: {"condition": "filled", "procedure": "filling", "procedure_status": "performed"},
            48: {"condition": "impacted", "procedure": "extraction", "procedure_status": "planned"},
        },
    )


@pytest.mark.django_db
def test_new_dental_visit_starts_from_the_last_signed_chart(
    first_dental_visit, patient, dentist_user, client_for
):
    visit = visits.visit_start(actor=dentist_user, patient=patient, kind="dental")
    chart = selectors.dental_chart(patient, visit=visit)
    assert sorted(chart) == [18, 36, 46, 48]
    assert all(rec.carried_over and rec.visit_id == first_dental_visit.pk for rec in chart.values())
    assert (chart[36].condition, chart[36].surfaces) == ("caries", "MO")

    page = client_for(dentist_user).get(reverse("patients:visit", args=[visit.pk]))
    html = page.content.decode()
    assert 'class="tooth c-caries carried" data-tooth="36"' in html
    day = dateformat.format(timezone.localtime(first_dental_visit.started_at), "j M Y")
    earlier = reverse("patients:visit", args=[first_dental_visit.pk])
    assert f'<span class="badge">Carried over</span> from <a href="{earlier}">{day}</a>' in html
    # The extraction still planned is shown; the filling done last time is not work for today.
    rows = {r["n"]: r for row in page.context["tooth_rows"] for r in row}
    assert rows[48]["procedure"] == "extraction" and rows[48]["carried"]
    assert rows[46]["procedure"] == "" and rows[46]["condition"] == "filled"
    assert not ToothRecord.objects.filter(visit=visit).exists()  # nothing copied


@pytest.mark.django_db
def test_recording_a_tooth_at_the_visit_replaces_the_carried_state(
    first_dental_visit, patient, dentist_user, client_for
):
    visit = visits.visit_start(actor=dentist_user, patient=patient, kind="dental")
    c = client_for(dentist_user)
    response = c.post(
        reverse("patients:visit_tooth", args=[visit.pk, 36]),
        {"condition": "filled", "surfaces": "MO", "procedure": "filling"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    chart = selectors.dental_chart(patient, visit=visit)
    assert (chart[36].condition, chart[36].carried_over) == ("filled", False)
    assert chart[18].carried_over
    html = c.get(reverse("patients:visit", args=[visit.pk])).content.decode()
    assert "This visit" in html and 'class="tooth c-filled planned" data-tooth="36"' in html
    assert 'class="tooth c-missing carried" data-tooth="18"' in html


@pytest.mark.django_db
def test_carried_tooth_prefills_the_form_without_last_visits_performed_procedure(
    first_dental_visit, patient, dentist_user, client_for
):
    visit = visits.visit_start(actor=dentist_user, patient=patient, kind="dental")
    c = client_for(dentist_user)
    planned = c.get(
        reverse("patients:visit_tooth", args=[visit.pk, 48]), HTTP_HX_REQUEST="true"
    ).context
    assert planned["tooth_form"].initial["procedure"] == "extraction"
    assert (
        b"saving records it at this visit"
        in c.get(
            reverse("patients:visit_tooth", args=[visit.pk, 48]), HTTP_HX_REQUEST="true"
        ).content
    )
    done = c.get(reverse("patients:visit_tooth", args=[visit.pk, 46]), HTTP_HX_REQUEST="true")
    assert done.context["tooth_form"].initial == {
        "condition": "filled",
        "surfaces": "",
        "procedure": "",
        "procedure_status": "",
        "notes": "",
    }


@pytest.mark.django_db
def test_latest_signed_state_wins_drafts_and_later_visits_do_not_count(
    first_dental_visit, patient, dentist_user, other_patient
):
    second = _dental_visit(
        patient, dentist_user, days_ago=10, teeth={36: {"condition": "filled", "surfaces": "MO"}}
    )
    _dental_visit(
        patient, dentist_user, days_ago=5, teeth={11: {"condition": "fractured"}}, sign=False
    )
    _dental_visit(other_patient, dentist_user, days_ago=3, teeth={21: {"condition": "caries"}})
    current = selectors.dental_chart(patient)
    assert sorted(current) == [18, 36, 46, 48]  # the draft's tooth 11 is not carried
    assert (current[36].condition, current[36].visit_id) == ("filled", second.pk)
    # An older visit shows the chart as it was then, not what later visits recorded.
    then = selectors.dental_chart(patient, visit=first_dental_visit)
    assert then[36].condition == "caries" and not then[36].carried_over
    assert selectors.dental_chart(patient, visit=second)[36].carried_over is False


@pytest.mark.django_db
def test_patient_chart_has_the_current_dental_chart(
    first_dental_visit, patient, nurse_user, front_desk_user, client_for
):
    url = reverse("patients:chart_tab", args=[patient.pk, "dental"])
    response = client_for(nurse_user).get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'id="dental-chart"' in response.content
    html = response.content.decode()
    assert 'class="tooth c-caries" data-tooth="36"' in html  # current state, not "carried"
    assert reverse("patients:visit", args=[first_dental_visit.pk]) in html
    assert client_for(front_desk_user).get(url).status_code == 403
    empty = PatientFactory()
    assert (
        b"No teeth recorded"
        in client_for(nurse_user)
        .get(reverse("patients:chart_tab", args=[empty.pk, "dental"]))
        .content
    )


@pytest.mark.django_db
def test_dental_visit_page_queries_do_not_grow_with_earlier_visits(
    patient, dentist_user, client_for
):
    c = client_for(dentist_user)

    def count_for_new_visit() -> int:
        visit = visits.visit_start(actor=dentist_user, patient=patient, kind="dental")
        c.get(reverse("patients:visit", args=[visit.pk]))  # warm up (session, caches)
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(reverse("patients:visit", args=[visit.pk])).status_code == 200
        visits.tooth_record_set(actor=dentist_user, visit=visit, tooth=11, condition="healthy")
        visits.visit_sign(actor=dentist_user, visit=visit)
        return len(ctx)

    _dental_visit(patient, dentist_user, days_ago=40, teeth={36: {"condition": "caries"}})
    few = count_for_new_visit()
    for i, tooth in enumerate([21, 22, 23, 24, 25]):
        _dental_visit(
            patient, dentist_user, days_ago=30 - i, teeth={tooth: {"condition": "filled"}}
        )
    assert count_for_new_visit() == few
