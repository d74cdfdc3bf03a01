"""Patient search: college filter, names in ASCII, partial ID numbers with and without
pg_trgm, the search-text migration and the indexes the search relies on."""

import importlib

import pytest
from django.apps import apps
from django.db import connection, transaction

from patients.models import Patient, normalize_search
from patients.selectors import patient_search, trigram_index_available
from tests.patients.factories import PatientFactory

TRIGRAM_MODES = [False, True]


def _modes():
    return [m for m in TRIGRAM_MODES if not m or trigram_index_available()]


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
