"""Review fixes: allergy order, the dental chart carried over between visits, search
(college filter, letters NFKD keeps whole, partial ID numbers without pg_trgm) and the
whole-word allergy check on prescriptions."""

import importlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, timezone

from patients import selectors
from patients.exports import record
from patients.models import Allergy, Patient, ToothRecord, normalize_search
from patients.selectors import patient_search, trigram_index_available
from patients.services import visits
from tests.patients.factories import AllergyFactory, PatientFactory, VisitFactory

TRIGRAM_MODES = [False, True]


def _modes():
    return [m for m in TRIGRAM_MODES if not m or trigram_index_available()]


# --- 1. Allergies: most dangerous first ---------------------------------------------------


@pytest.fixture
def mixed_allergies(patient):
    for substance, severity in [
        ("Aspirin", "mild"),
        ("Bee venom", "life_threatening"),
        ("Codeine", "severe"),
        ("Dust", "moderate"),
        ("Egg", "life_threatening"),
    ]:
        AllergyFactory(patient=patient, substance=substance, severity=severity)
    AllergyFactory(patient=patient, substance="Latex", severity="life_threatening", is_active=False)
    return patient


EXPECTED_ORDER = ["Bee venom", "Egg", "Codeine", "Dust", "Aspirin"]


@pytest.mark.django_db
def test_active_allergies_list_life_threatening_first(mixed_allergies):
    assert [a.substance for a in selectors.active_allergies(mixed_allergies)] == EXPECTED_ORDER


@pytest.mark.django_db
def test_chart_banner_medications_tab_and_exports_list_the_most_severe_first(
    mixed_allergies, doctor_user, client_for
):
    c = client_for(doctor_user)
    banner = c.get(reverse("patients:chart", args=[mixed_allergies.pk])).content.decode()
    positions = [banner.index(f">{s}") for s in EXPECTED_ORDER]
    assert positions == sorted(positions)
    tab = c.get(reverse("patients:chart_tab", args=[mixed_allergies.pk, "medications"]))
    listed = re.findall(
        r"<strong>([^<]+)</strong>", tab.content.decode().split('id="chart-tab"')[1]
    )
    assert listed[: len(EXPECTED_ORDER) + 1] == [*EXPECTED_ORDER, "Latex"]  # inactive last
    assert [a.substance for a in record.record_data(mixed_allergies)["allergies"]] == (
        EXPECTED_ORDER
    )


# --- 2. Dental chart carried over between visits -----------------------------------------


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


# --- 3. Search ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_college_filter_is_a_case_insensitive_part():
    eng = PatientFactory(college="School of Engineering")
    PatientFactory(college="School of Law")
    for college in ["school of engineering", "ENGINEERING", " engineer "]:
        assert list(patient_search(college=college)) == [eng]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Søren", "soren"),
        ("ŁUKASIEWICZ", "lukasiewicz"),
        ("Straße", "strasse"),
        ("Ærøskøbing", "aeroskobing"),
        ("Đorđević", "dordevic"),
        ("Œuvre", "oeuvre"),
        ("Þórður", "thordur"),
        ("Yıldız", "yildiz"),
        ("José Peñaflor", "jose penaflor"),
    ],
)
def test_normalize_search_spells_whole_letters_in_ascii(text, expected):
    assert normalize_search(text) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("use_trigram", TRIGRAM_MODES)
def test_names_with_letters_nfkd_keeps_whole_are_found(use_trigram):
    if use_trigram and not trigram_index_available():
        pytest.skip("pg_trgm is not available")
    soren = PatientFactory(first_name="Søren", last_name="Łukasiewicz")
    strasse = PatientFactory(first_name="Æsa", last_name="Straßer-Đurić")
    for q in ["Søren", "soren", "Łukasiewicz", "lukasiewicz", "søren łukasiewicz"]:
        assert list(patient_search(q=q, use_trigram=use_trigram)) == [soren], q
    for q in ["Straßer", "strasser", "durić", "aesa", "Æsa"]:
        assert list(patient_search(q=q, use_trigram=use_trigram)) == [strasse], q


@pytest.mark.django_db
@pytest.mark.parametrize("use_trigram", TRIGRAM_MODES)
def test_partial_id_number_search_works_with_and_without_pg_trgm(use_trigram):
    if use_trigram and not trigram_index_available():
        pytest.skip("pg_trgm is not available")
    target = PatientFactory(id_number="2023-0451", first_name="Ana", last_name="Reyes")
    PatientFactory(id_number="2024-0999", first_name="Ben", last_name="Cruz")
    plain = PatientFactory(id_number="B0054321", first_name="Cai", last_name="Lim")
    for q in ["2023-0451", "20230451", "0451", "230451", "23-04"]:
        assert list(patient_search(q=q, use_trigram=use_trigram)) == [target], q
    for q in ["B0054321", "b0054321", "0054321", "B00543"]:
        assert list(patient_search(q=q, use_trigram=use_trigram)) == [plain], q


@pytest.mark.django_db
def test_data_migration_recomputes_stale_search_text():
    soren = PatientFactory(first_name="Søren", last_name="Kierkegaard", id_number="2020-0007")
    tidy = PatientFactory(first_name="Ana", last_name="Reyes", id_number="A1")
    # What the old normalisation stored.
    Patient.objects.filter(pk=soren.pk).update(search_text="kierkegaard søren 2020-0007")
    migration = importlib.import_module("patients.migrations.0005_recompute_search_text")
    migration.recompute(apps, None)
    soren.refresh_from_db()
    assert soren.search_text == f"kierkegaard soren 2020-0007 {soren.email} 20200007"
    assert list(patient_search(q="soren", use_trigram=False)) == [soren]
    assert Patient.objects.get(pk=tidy.pk).search_text == tidy.search_text


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        # Proves the indexes can serve the query: with sequential and plain index scans
        # discouraged, only bitmap index scans are left, so the plan names the trigram
        # index exactly when its expression matches the query's LIKEs; with no usable index
        # PostgreSQL still falls back to a scan, whatever these settings say. (Which plan
        # the planner prefers at 100,000 patients is measured by `make bench`.)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_id_search_keeps_its_indexes_when_pg_trgm_exists():
    """10,000 patients with bench-style and dashed ID numbers (inserted in SQL for speed):
    whole and partial ID searches are served by the indexes, not a scan."""
    if not trigram_index_available():
        pytest.skip("pg_trgm is not available")
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO patients_patient (id_number, first_name, middle_name, last_name, sex, birth_date, email,
                phone, address, patient_type, college, course, department, emergency_contact_name,
                emergency_contact_phone, emergency_contact_relation, blood_type, search_text, created_at, updated_at)
            SELECT id, 'n' || left(md5(i::text), 8), '', 'f' || left(md5((i + 1)::text), 8), 'F',
                '2000-01-01', 'p' || i || '@usc.edu.ph', '', '', 'student', '', '', '', '', '', '', '',
                'f' || left(md5((i + 1)::text), 8) || ' n' || left(md5(i::text), 8) || ' ' || lower(id)
                || ' p' || i || '@usc.edu.ph' || CASE WHEN id LIKE '%-%' THEN ' ' || replace(id, '-', '') ELSE '' END,
                now(), now()
            FROM generate_series(1, 10000) AS i,
                LATERAL (SELECT CASE WHEN i % 2 = 0 THEN 'B' || lpad(i::text, 7, '0')
                                     ELSE (2000 + i % 25) || '-' || lpad(i::text, 5, '0') END AS id) AS ids
        """)
        cursor.execute("ANALYZE patients_patient")
    # The bench case (an ID with no separators) runs the same single LIKE as before.
    sql, _ = patient_search(q="B0005432").query.sql_with_params()
    assert sql.count("LIKE") == 1
    cases = {
        "B0005432": "B0005432",
        "2007-05407": "2007-05407",
        "200705407": "2007-05407",
        "05407": "2007-05407",
    }
    for q, id_number in cases.items():
        qs = patient_search(q=q, use_trigram=True)
        assert id_number in [p.id_number for p in qs], q
        plan = _plan(qs)
        assert "patients_patient_search_trgm" in plan and "Seq Scan" not in plan, plan


# --- 4. Prescriptions: the allergy check matches whole words -----------------------------


@pytest.mark.parametrize(
    ("substance", "drug", "blocked"),
    [
        ("Ace", "Paracetamol", False),
        ("Ace", "ACE inhibitor", True),
        ("pen", "Penicillin V", False),
        ("Penicillin", "penicillin V potassium", True),
        ("Amoxicillin", "Amoxicillin+Clavulanate 625 mg", True),
        ("Sulfaméthoxazole", "sulfamethoxazole / trimethoprim", True),
        ("Sulfa drugs", "Sulfamethoxazole", False),
        ("Co-amoxiclav", "co amoxiclav", True),
        ("...", "Paracetamol", False),
    ],
)
def test_allergy_names_drug_matches_whole_words(substance, drug, blocked):
    assert visits.allergy_names_drug(substance, drug) is blocked


def _rx(drug: str) -> dict:
    return {"drug_name": drug, "dose": "500 mg", "route": "oral", "frequency": "q6h", "quantity": 6}


@pytest.mark.django_db
def test_prescription_allergy_check_is_not_a_substring_match(visit, doctor_user):
    Allergy.objects.create(patient=visit.patient, substance="Ace", severity="mild")
    AllergyFactory(patient=visit.patient, substance="Ibuprofen", severity="severe")
    assert visits.prescription_add(actor=doctor_user, visit=visit, data=_rx("Paracetamol"))
    with pytest.raises(ValidationError) as exc:
        visits.prescription_add(actor=doctor_user, visit=visit, data=_rx("IBUPROFEN 400"))
    assert "allergic to Ibuprofen" in str(exc.value)
