"""Name search: apostrophes and spaces inside names ("obrien" → O'Brien, "delacruz" → Dela
Cruz), accent-folded email fragments, and the migration that recomputes search_text."""

import importlib

import pytest
from django.apps import apps

from patients.models import Patient, patient_search_text
from patients.selectors import patient_search, trigram_index_available
from tests.patients.factories import PatientFactory


def _modes():
    return [False, True] if trigram_index_available() else [False]


def test_search_text_has_compact_names():
    text = patient_search_text(
        last_name="O'Brien",
        first_name="Mary Ann",
        middle_name="Dela Cruz",
        id_number="2023-0451",
        email="x@usc.edu.ph",
    )
    assert "o'brien" in text and "obrien" in text.split()
    assert "maryann" in text.split() and "delacruz" in text.split()
    plain = patient_search_text(
        last_name="Reyes", first_name="Ana", middle_name="", id_number="A1", email="a@usc.edu.ph"
    )
    assert plain == "reyes ana a1 a@usc.edu.ph"  # nothing added when nothing differs


@pytest.mark.django_db
def test_names_found_without_apostrophes_spaces_or_hyphens():
    obrien = PatientFactory(first_name="Sean", last_name="O'Brien")
    curly = PatientFactory(first_name="Aoife", last_name="O’Neill")
    delacruz = PatientFactory(first_name="José", last_name="Dela Cruz")
    hyphen = PatientFactory(first_name="Ana", last_name="Santos-Reyes")
    maryann = PatientFactory(first_name="Mary Ann", last_name="Lim")
    PatientFactory(first_name="Brian", last_name="Cruz")
    for use_trigram in _modes():

        def found(q, use_trigram=use_trigram):
            return set(patient_search(q=q, use_trigram=use_trigram))

        assert found("obrien") == {obrien}, use_trigram
        assert found("O'Brien") == {obrien}, use_trigram
        assert found("o’brien") == {obrien}, use_trigram
        assert found("brien") == {obrien}, use_trigram
        assert found("oneill") == {curly}, use_trigram
        assert found("O'Neill") == {curly}, use_trigram
        assert found("delacruz") == {delacruz}, use_trigram
        assert found("dela cruz") == {delacruz}, use_trigram
        assert found("delacruz jose") == {delacruz}, use_trigram
        assert found("santosreyes") == {hyphen}, use_trigram
        assert found("santos-reyes") == {hyphen}, use_trigram
        assert found("maryann") == {maryann}, use_trigram
        assert found("cruz") == {delacruz, Patient.objects.get(first_name="Brian")}, use_trigram


@pytest.mark.django_db
def test_email_fragment_is_accent_folded():
    pena = PatientFactory(first_name="Luz", last_name="Peñaflor", email="peñaflor@usc.edu.ph")
    PatientFactory(first_name="Penny", last_name="Flores", email="penny@usc.edu.ph")
    under = PatientFactory(first_name="Al", last_name="Uy", email="al_uy@usc.edu.ph")
    PatientFactory(first_name="Al", last_name="Xuy", email="alxuy@usc.edu.ph")
    for use_trigram in _modes():
        for q in ["penaflor@usc", "Peñaflor@USC", "penaflor@usc.edu.ph", "peñaflor@usc.edu.ph"]:
            assert list(patient_search(q=q, use_trigram=use_trigram)) == [pena], q
        # LIKE wildcards in the query are literal.
        assert list(patient_search(q="al_uy@", use_trigram=use_trigram)) == [under]
        assert list(patient_search(q="%@usc", use_trigram=use_trigram)) == []


@pytest.mark.django_db
def test_migration_0008_recomputes_search_text():
    obrien = PatientFactory(first_name="Sean", last_name="O'Brien", id_number="B1")
    tidy = PatientFactory(first_name="Ana", last_name="Reyes", id_number="A1")
    Patient.objects.filter(pk=obrien.pk).update(
        search_text=f"o'brien sean b1 {obrien.email}"  # what the old normalisation stored
    )
    assert list(patient_search(q="obrien")) == []
    migration = importlib.import_module("patients.migrations.0008_recompute_search_text_names")
    migration.recompute(apps, None)
    obrien.refresh_from_db()
    assert obrien.search_text == f"o'brien sean b1 {obrien.email} obrien"
    assert list(patient_search(q="obrien")) == [obrien]
    assert Patient.objects.get(pk=tidy.pk).search_text == tidy.search_text
