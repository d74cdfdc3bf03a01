"""Registration with the duplicate step, bad input, search (and its query plan), chart."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from patients.models import Patient
from patients.selectors import patient_search, trigram_index_available
from tests.patients.factories import AllergyFactory, PatientFactory, VisitFactory

FORM = {
    "id_number": "21000001",
    "first_name": "José",
    "middle_name": "",
    "last_name": "Dela Cruz",
    "sex": "M",
    "birth_date": "2004-02-03",
    "email": "jose@usc.edu.ph",
    "phone": "",
    "address": "",
    "patient_type": "student",
    "college": "Engineering",
    "course": "",
    "year_level": "2",
    "department": "",
    "emergency_contact_name": "",
    "emergency_contact_phone": "",
    "emergency_contact_relation": "",
    "blood_type": "",
}


@pytest.mark.django_db
def test_register_then_duplicate_step(front_desk_user, client_for):
    c = client_for(front_desk_user)
    first = c.post(reverse("patients:register"), FORM)
    assert first.status_code == 302
    same_person = {
        **FORM,
        "id_number": "21000002",
        "first_name": "Jose",
    }  # accent-insensitive match
    second = c.post(reverse("patients:register"), same_person)
    assert second.status_code == 422 and b"Possible duplicate" in second.content
    assert Patient.objects.count() == 1
    third = c.post(reverse("patients:register"), {**same_person, "confirm_duplicate": "on"})
    assert third.status_code == 302 and Patient.objects.count() == 2
    taken = c.post(
        reverse("patients:register"), {**FORM, "first_name": "Other", "confirm_duplicate": "on"}
    )
    assert taken.status_code == 422 and b"already registered" in taken.content


@pytest.mark.django_db
def test_future_birth_date_is_a_form_error(front_desk_user, client_for):
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    response = client_for(front_desk_user).post(
        reverse("patients:register"), {**FORM, "birth_date": future}
    )
    assert response.status_code == 422 and b"cannot be in the future" in response.content
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_search_is_accent_and_case_insensitive_partial():
    jose = PatientFactory(
        first_name="José", last_name="Dela Cruz", id_number="X-1", email="jdc@usc.edu.ph"
    )
    PatientFactory(first_name="Maria", last_name="Santos", college="Law", year_level=3)
    for use_trigram in (False, True) if trigram_index_available() else (False,):
        assert list(patient_search(q="jose dela", use_trigram=use_trigram)) == [jose]
        assert list(patient_search(q="JOSÉ", use_trigram=use_trigram)) == [jose]
        assert list(patient_search(q="cru", use_trigram=use_trigram)) == [jose]
    assert list(patient_search(q="X-1")) == [jose]
    assert list(patient_search(q="JDC@usc.edu.ph")) == [jose]
    assert [p.last_name for p in patient_search(college="Law", year_level=3)] == ["Santos"]


@pytest.mark.django_db
def test_patient_list_htmx_returns_table_fragment(doctor_user, client_for):
    PatientFactory(first_name="Ramon", last_name="Magsaysay")
    response = client_for(doctor_user).get(
        reverse("patients:list"), {"q": "magsay"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b'id="patient-table"' in response.content and b"<html" not in response.content
    assert b"Magsaysay" in response.content


def _plan(qs, *, forbid_seqscan: bool = False) -> str:
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        if forbid_seqscan:
            # Proves the index can serve the query: with no usable index PostgreSQL still
            # falls back to a sequential scan, whatever this setting says.
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_search_query_plan_uses_an_index():
    """30,000 patients with varied names (inserted in SQL for speed); the planner must pick
    the full-text GIN index (always there) and the trigram index (when pg_trgm exists)."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO patients_patient (id_number, first_name, middle_name, last_name, sex, birth_date, email,
                phone, address, patient_type, college, course, department, emergency_contact_name,
                emergency_contact_phone, emergency_contact_relation, blood_type, search_text, created_at, updated_at)
            SELECT 'P' || i, 'n' || left(md5(i::text), 8), '', 'f' || left(md5((i + 1)::text), 8), 'F',
                '2000-01-01', 'p' || i || '@usc.edu.ph', '', '', 'student', '', '', '', '', '', '', '',
                'f' || left(md5((i + 1)::text), 8) || ' n' || left(md5(i::text), 8) || ' p' || i || ' p' || i
                || '@usc.edu.ph', now(), now()
            FROM generate_series(1, 30000) AS i
        """)
        cursor.execute("ANALYZE patients_patient")
        cursor.execute("SELECT left(md5('124'), 8), left(md5('123'), 8)")
        last, first = cursor.fetchone()
    qs = patient_search(q=f"F{last[:5]} n{first[:3]}", use_trigram=False)
    assert [p.id_number for p in qs] == ["P123"]
    fts = _plan(qs)
    assert "patients_patient_search_fts" in fts, fts
    assert "patients_patient_email_lower" in _plan(patient_search(q="p77@usc.edu.ph"))
    if trigram_index_available():
        qs = patient_search(q=last[1:7], use_trigram=True)
        assert "P123" in [p.id_number for p in qs]
        trgm = _plan(qs, forbid_seqscan=True)
        assert "patients_patient_search_trgm" in trgm, trgm


@pytest.mark.django_db
def test_chart_query_count_constant_with_700_visits(
    patient,
    doctor_user,
    client_for,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    from patients import timeline_cache
    from patients.models import Visit

    AllergyFactory(patient=patient)
    c = client_for(doctor_user)
    VisitFactory(patient=patient, provider=doctor_user)
    url = reverse("patients:chart", args=[patient.pk])
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert c.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        Visit.objects.bulk_create(
            [
                Visit(
                    patient=patient,
                    kind="medical",
                    provider=doctor_user,
                    started_at=timezone.now() - timedelta(days=i),
                )
                for i in range(699)
            ]
        )
        # bulk_create sends no signal: a bulk loader replaces the timeline's token itself.
        timeline_cache.patients_changed(patient.pk)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = c.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="timeline-item') == 20 and "Show older visits" in body
    assert b"Penicillin" in response.content  # allergy banner


@pytest.mark.django_db
def test_chart_view_is_audited(patient, nurse_user, client_for):
    client_for(nurse_user).get(reverse("patients:chart", args=[patient.pk]))
    event = AuditEvent.objects.filter(action="read", patient_id=patient.pk).get()
    assert event.actor == nurse_user


@pytest.mark.django_db
def test_chart_tab_htmx_fragment(patient, nurse_user, client_for):
    response = client_for(nurse_user).get(
        reverse("patients:chart_tab", args=[patient.pk, "medications"]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and b'id="chart-tab"' in response.content
    assert b"<html" not in response.content


@pytest.mark.django_db
def test_allergy_banner_shows_on_visit_page(visit, doctor_user, client_for):
    AllergyFactory(patient=visit.patient, substance="Sulfa drugs")
    response = client_for(doctor_user).get(reverse("patients:visit", args=[visit.pk]))
    assert (
        b"allergy-banner has-allergies" in response.content and b"Sulfa drugs" in response.content
    )
