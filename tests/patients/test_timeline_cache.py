"""The chart's timeline pages come from the cache until something they show changes
(``patients.timeline_cache``, ``patients.receivers``): every write below shows on the next
request, the cached page is the page the database gives, and the PHI read is audited on
every view, cached or not.

Writes run inside ``django_capture_on_commit_callbacks(execute=True)``: the tokens are
replaced when a transaction commits, as in production (the test's own transaction never
does)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from patients.models import Diagnosis, Icd10Code, Visit, VitalSigns
from patients.services import visits
from tests.patients.factories import PatientFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(doctor_user, client_for):
    """(patient, a draft visit, a function returning the chart's HTML)."""
    patient = PatientFactory()
    visit = VisitFactory(
        patient=patient,
        provider=doctor_user,
        chief_complaint="Headache",
        started_at=timezone.now() - timedelta(hours=1),
    )
    client = client_for(doctor_user)
    url = reverse("patients:chart", args=[patient.pk])

    def html() -> str:
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    return patient, visit, html


def _timeline_queries(run) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum("patients_visit" in q["sql"] for q in queries)


def test_the_page_is_shared_until_it_changes_and_every_view_is_audited(chart, doctor_user):
    patient, _visit, html = chart
    first = html()
    assert "Headache" in first
    assert _timeline_queries(html) == 0  # the second view reads the page from the cache
    assert _untokened(html()) == _untokened(first)
    reads = AuditEvent.objects.filter(action=AuditAction.READ, patient_id=patient.pk)
    assert reads.count() == 3  # one per view, cached or not


def _untokened(body: str) -> str:
    """The page without its CSRF tokens (masked differently in every response)."""
    return re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", body)


def test_notes_vitals_diagnoses_prescriptions_and_signing_show_on_the_next_request(
    chart, doctor_user, django_capture_on_commit_callbacks
):
    patient, visit, html = chart
    html()
    with django_capture_on_commit_callbacks(execute=True):
        visits.visit_update_notes(actor=doctor_user, visit=visit, data={"chief_complaint": "Flu"})
    assert "Flu" in html() and "Headache" not in html()
    with django_capture_on_commit_callbacks(execute=True):
        visits.vitals_record(
            actor=doctor_user, visit=visit, values={"temperature_c": Decimal("38.6")}
        )
    assert "T 38.6" in html()
    Icd10Code.objects.create(code="Z99.81", title="First code")
    other = Icd10Code.objects.create(code="Z99.82", title="Second code")
    with django_capture_on_commit_callbacks(execute=True):
        visits.diagnosis_add(actor=doctor_user, visit=visit, code="Z99.81")
    assert "First code" in html()
    # A new primary diagnosis moves the old one down by QuerySet.update (no signal).
    with django_capture_on_commit_callbacks(execute=True):
        visits.diagnosis_add(actor=doctor_user, visit=visit, code="Z99.82", is_primary=True)
    body = html()
    assert body.index("Second code") < body.index("First code")
    with django_capture_on_commit_callbacks(execute=True):
        rx = visits.prescription_add(
            actor=doctor_user,
            visit=visit,
            data={"drug_name": "Paracetamol", "dose": "500 mg", "frequency": "q6h", "quantity": 8},
        )
    assert "1 prescription<" in html()
    with django_capture_on_commit_callbacks(execute=True):
        visits.prescription_remove(actor=doctor_user, prescription=rx)
    assert "prescription" not in html()
    with django_capture_on_commit_callbacks(execute=True):
        visits.diagnosis_remove(
            actor=doctor_user, diagnosis=Diagnosis.objects.get(visit=visit, icd10=other)
        )
    assert "Second code" not in html() and "First code" in html()
    assert "Draft" in html()
    with django_capture_on_commit_callbacks(execute=True):
        visits.visit_sign(actor=doctor_user, visit=visit)  # a guarded QuerySet.update
    assert 'badge good">Signed' in html() and "Draft" not in html()


def test_new_and_deleted_visits_show_on_the_next_request(
    chart, doctor_user, django_capture_on_commit_callbacks
):
    patient, visit, html = chart
    html()
    with django_capture_on_commit_callbacks(execute=True):
        new = visits.visit_start(actor=doctor_user, patient=patient, kind="medical")
    assert f"/patients/visits/{new.pk}/" in html()
    with django_capture_on_commit_callbacks(execute=True):
        visit.delete()
    assert f"/patients/visits/{visit.pk}/" not in html()


def test_a_visit_moved_to_another_patient_leaves_the_first_timeline(
    chart, doctor_user, django_capture_on_commit_callbacks
):
    patient, visit, html = chart
    assert "Headache" in html()
    with django_capture_on_commit_callbacks(execute=True):
        visit.patient = PatientFactory()
        visit.save()
    assert "Headache" not in html()


def test_names_and_titles_shown_on_every_chart(
    chart, doctor_user, django_capture_on_commit_callbacks
):
    patient, visit, html = chart
    code = Icd10Code.objects.create(code="Z99.83", title="Old title")
    Diagnosis.objects.create(visit=visit, icd10=code, is_primary=True)
    VitalSigns.objects.create(visit=visit, recorded_by=doctor_user, systolic=120, diastolic=80)
    assert "Old title" in html() and "BP 120/80" in html()
    with django_capture_on_commit_callbacks(execute=True):
        code.title = "New title"
        code.save()
    assert "New title" in html()
    with django_capture_on_commit_callbacks(execute=True):
        doctor_user.last_name = "Renamed"
        doctor_user.save()
    assert f"· {doctor_user.first_name} Renamed" in html()


def test_other_pages_and_patients_are_kept_apart(chart, doctor_user, client_for):
    patient, visit, html = chart
    now = timezone.now()
    Visit.objects.bulk_create(
        [
            Visit(
                patient=patient,
                kind="medical",
                provider=doctor_user,
                started_at=now - timedelta(days=i + 1),
                chief_complaint=f"complaint {i:02d}",
            )
            for i in range(25)
        ]
    )
    other = PatientFactory()
    VisitFactory(patient=other, provider=doctor_user, chief_complaint="Someone else")
    c = client_for(doctor_user)
    tab = reverse("patients:chart_tab", args=[patient.pk, "timeline"])
    first = c.get(tab).content.decode()
    second = c.get(f"{tab}?page=2").content.decode()
    assert "complaint 18" in first and "complaint 19" in second and "complaint 19" not in first
    assert "Show older visits" in first and "Show older visits" not in second
    theirs = c.get(reverse("patients:chart", args=[other.pk])).content.decode()
    assert "Someone else" in theirs and "complaint" not in theirs
    assert "Someone else" not in c.get(tab).content.decode()


def test_an_unreachable_cache_still_serves_the_chart(chart, monkeypatch):
    patient, visit, html = chart

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", down)
    monkeypatch.setattr(cache, "set", down)
    assert "Headache" in html()
    assert AuditEvent.objects.filter(action=AuditAction.READ, patient_id=patient.pk).count() == 1
