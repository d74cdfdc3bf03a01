"""Issue 15: a name part is looked up in the trigram index by its two rarest trigrams and
then checked whole, so the index intersects shorter lists. The matches, their order and
their count are the same as with the whole part."""

from __future__ import annotations

import random
import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from patients.selectors import (
    patient_search,
    search_tokens,
    token_like_pattern,
    trigram_index_available,
    trigram_sample,
)
from tests.conftest import login, sql_run
from tests.patients.factories import PatientFactory


@pytest.fixture(autouse=True)
def _fresh_sample():
    trigram_sample.reset()
    yield
    trigram_sample.reset()


def _like(pattern: str) -> re.Pattern:
    """A LIKE pattern without escapes as a regular expression (``%``: any text)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.DOTALL)


def test_short_words_and_an_unknown_sample_ask_for_the_whole_word():
    assert token_like_pattern("ram", {"ram": 5}) == "%ram%"
    assert token_like_pattern("ramo", {"ram": 5, "amo": 1}) == "%ramo%"  # two trigrams
    assert token_like_pattern("quinones", {}) == "%quinones%"


def test_the_two_rarest_trigrams_in_the_words_order():
    common = {"qui": 90, "uin": 50, "ino": 50, "non": 3, "one": 3, "nes": 40}
    assert token_like_pattern("quinones", common) == "%none%"  # overlapping: one run
    apart = {**common, "non": 60, "qui": 2, "nes": 1}
    assert token_like_pattern("quinones", apart) == "%qui%nes%"
    one_letter_shared = {**common, "non": 1, "one": 80, "nes": 2}
    assert token_like_pattern("quinones", one_letter_shared) == "%nones%"
    # Never seen in the sample is rarest; ties keep the earlier trigrams.
    assert token_like_pattern("b0054321", {"b00": 1000, "005": 90, "054": 9}) == "%5432%"


def test_every_pattern_matches_its_word():
    rng = random.Random(15)
    for _ in range(2000):
        word = "".join(rng.choice("abnoq019") for _ in range(rng.randint(3, 12)))
        counts = {
            word[i : i + 3]: rng.randint(0, 5) for i in range(len(word) - 2) if rng.random() < 0.8
        }
        pattern = token_like_pattern(word, counts)
        assert _like(pattern).fullmatch(f"x {word} y"), (word, counts, pattern)
        asked = pattern.strip("%").split("%")
        assert all(part in word for part in asked)
        assert len(pattern) - pattern.count("%") <= max(len(word), 6)


NAMES = [
    ("Quiñones", "Ramon", "Reyes", "2023-0451"),
    ("Quinones", "Ramil", "Santos", "2023-0452"),
    ("Quiñonez", "Rama", "Cruz", "2021-1100"),
    ("Abad", "Ramon", "Quiñones", "2020-0001"),
    ("Dimaculangan", "Maria", "Ocampo", "2019-7788"),
    ("Dimacali", "Mario", "Magsaysay", "2019-7789"),
    ("O'Brien", "Sean", "", "EMP-0042"),
    ("Dela Cruz", "Juan", "Magno", "B0054321"),
    ("Delacruz", "Ana", "Nones", "B0054322"),
    ("Magsaysay", "Teresita", "Dimaculangan", "B1054321"),
    ("Ramos", "Nonie", "Aquino", "2022-5432"),
    ("Aquino", "Joaquin", "Quiambao", "2022-5433"),
]
QUERIES = [
    "quinones ram",
    "Quiñones",
    "nones",
    "dimacul",
    "dimacu mar",
    "magsaysay",
    "mag",
    "obrien",
    "delacruz",
    "dela cruz",
    "B0054321",
    "0054321",
    "2023-0451",
    "20230451",
    "5432",
    "joaquin",
    "aquino quiambao",
    "nobody",
]


@pytest.fixture
def seeded(db):
    if not trigram_index_available():
        pytest.skip("pg_trgm is not installed")
    for i, (last, first, middle, id_number) in enumerate(NAMES * 3):
        PatientFactory(
            last_name=last,
            first_name=first if i < len(NAMES) else f"{first} {i}",
            middle_name=middle,
            id_number=id_number if i < len(NAMES) else f"{id_number}-{i}",
            birth_date=date(2000, 1, 1 + i % 28),
        )


def _ids(q: str) -> list[int]:
    return list(patient_search(q=q).values_list("id", flat=True))


def _samples():
    """The table's own sample, and random counts that make other trigrams the rare ones."""
    rng = random.Random(2026)
    trigram_sample.reset()
    table = trigram_sample.counts()
    assert table, "the sample reads the (small) table whole"
    yield table
    for _ in range(5):
        yield {gram: rng.randint(0, 9) for gram in table}


def test_same_matches_in_the_same_order_as_the_whole_words(seeded):
    trigram_sample.reset({})  # nothing known: every word asked for whole (as before)
    expected = {q: _ids(q) for q in QUERIES}
    everyone = list(Patient.objects.all())
    for q in QUERIES:  # and what the whole words find is every patient containing them
        tokens = search_tokens(q.replace("'", ""))
        found = {p.pk for p in everyone if all(t in p.search_text for t in tokens)}
        assert set(expected[q]) >= found, q
    assert expected["quinones ram"] and expected["B0054321"] and not expected["nobody"]
    for counts in list(_samples()):
        trigram_sample.reset(counts)
        for q in QUERIES:
            assert _ids(q) == expected[q], (q, counts)


def test_the_list_page_shows_the_same_rows_and_count(seeded, client, doctor_user):
    login(client, doctor_user)

    def page(q):
        response = client.get("/patients/", {"q": q})
        assert response.status_code == 200
        shown = response.context["page"]
        return [p.pk for p in shown], shown.paginator.count, shown.paginator.num_pages

    trigram_sample.reset({})
    expected = {q: page(q) for q in QUERIES}
    for counts in list(_samples())[:2]:
        trigram_sample.reset(counts)
        for q in QUERIES:
            assert page(q) == expected[q], q


def test_the_index_is_asked_with_rare_trigrams_and_the_words_checked_whole(
    seeded, client, doctor_user
):
    trigram_sample.reset({"qui": 90, "uin": 80, "ino": 70, "non": 1, "one": 2, "nes": 60})
    login(client, doctor_user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/patients/", {"q": "quinones ram"})
    # The statement is prepared on the connection: its text has the LIKEs and the whole-word
    # check, its EXECUTE the values.
    (sent,) = [c["sql"] for c in ctx.captured_queries if "EXECUTE uscpis_" in c["sql"]]
    (statement,) = sql_run([{"sql": sent}])
    assert statement.count("LIKE $") == 2 and statement.count("position($") == 1
    execute = sent[sent.index("EXECUTE uscpis_") :]
    assert "'%none%', 'quinones', '%ram%'" in execute and "'%quinones%'" not in execute
    assert {p.last_name for p in response.context["page"]} <= {"Quiñones", "Quinones", "Abad"}


def test_the_sample_counts_patients_per_trigram_and_is_kept(db, monkeypatch):
    PatientFactory(last_name="Quiñones", first_name="Ramon", email="")
    PatientFactory(last_name="Nones", first_name="Ana", email="")
    counts = trigram_sample.counts()
    assert counts["non"] == 2 and counts["qui"] == 1  # once per patient
    assert "s r" not in counts and "ram" in counts  # within words only
    PatientFactory(last_name="Quiroga", first_name="Ana", email="")
    assert trigram_sample.counts()["qui"] == 1  # kept for an hour
    clock = [0.0]
    monkeypatch.setattr("patients.selectors.time.monotonic", lambda: clock[0])
    trigram_sample.reset()
    trigram_sample.counts()
    clock[0] += trigram_sample.ttl + 1
    assert trigram_sample.counts()["qui"] == 2


def test_an_empty_table_is_sampled_again_soon(db, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("patients.selectors.time.monotonic", lambda: clock[0])
    assert trigram_sample.counts() == {}
    PatientFactory(last_name="Quiñones")
    clock[0] += trigram_sample.retry + 1
    assert trigram_sample.counts()["qui"] == 1


def test_the_whole_word_check_leaves_the_planners_estimate_to_the_like(db):
    """``position(...) <> 0`` is estimated as nearly always true, so the rows the planner
    expects (which choose between walking the name index and sorting the index's hits in
    the API and FHIR searches) come from the ``LIKE`` as before; ``> 0`` would cut them to
    a third."""
    if not trigram_index_available():
        pytest.skip("pg_trgm is not installed")
    for i in range(300):
        PatientFactory(last_name=["Quiñones", "Santos", "Reyes"][i % 3], first_name=f"Ana{i}")
    rows = re.compile(r"rows=(\d+)")

    def estimate(where: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN SELECT id FROM patients_patient WHERE {where}")  # noqa: S608
            return int(rows.search(cursor.fetchone()[0]).group(1))

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient")
    whole = estimate("search_text LIKE '%quinones%'")
    asked = estimate("search_text LIKE '%none%' AND position('quinones' IN search_text) <> 0")
    assert 80 <= whole <= 120 and 0.9 * whole <= asked <= 1.1 * whole
    third = estimate("search_text LIKE '%none%' AND position('quinones' IN search_text) > 0")
    assert third < 0.5 * whole


def test_the_sample_expects_how_many_patients_have_every_word(db):
    trigram_sample.reset({"mag": 65, "agn": 10, "ram": 90}, sampled=1000, table=100_000)
    assert trigram_sample.expected_matches(["mag"]) == pytest.approx(6_500)
    assert trigram_sample.expected_matches(["magno"]) == 0  # "gno" never seen
    assert trigram_sample.expected_matches(["mag", "ram"]) == pytest.approx(585)
    assert trigram_sample.expected_matches(["ab"]) is None  # no trigram to go by
    trigram_sample.reset({"mag": 65})  # nothing known of the sample's size
    assert trigram_sample.expected_matches(["mag"]) is None


def test_a_search_expected_past_the_cap_goes_as_one_planned_statement(seeded, client, doctor_user):
    """ "mag" is counted to the cap and then walks the name index: one statement planned for
    its words (the same page and count as the kept statement for few matches gives)."""
    from patients.selectors import patient_search_expects_more

    login(client, doctor_user)
    trigram_sample.reset({"mag": 500, "qui": 1, "non": 1}, sampled=1000, table=10_000)
    assert patient_search_expects_more("mag", than=1000)
    assert not patient_search_expects_more("quinones", than=1000)
    assert not patient_search_expects_more("mag", than=10_000)
    pages = {}
    for expected in (True, False):
        if not expected:
            trigram_sample.reset({"mag": 1}, sampled=1000, table=10_000)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/patients/", {"q": "mag"})
        sent = [c["sql"] for c in ctx.captured_queries if "patients_patient" in c["sql"]]
        prepared = [c["sql"] for c in ctx.captured_queries if "uscpis_" in c["sql"]]
        assert bool(sent) == expected and bool(prepared) != expected
        page = response.context["page"]
        pages[expected] = ([p.pk for p in page], page.paginator.count)
    assert pages[True] == pages[False]
