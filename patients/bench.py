"""Benchmarks for patient records: search at 100,000 patients, the chart of a patient with
700 visits, ICD-10 autocomplete."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from patients import seed, timeline_cache
from patients.icd10 import icd10_load
from patients.models import Diagnosis, Icd10Code, Patient, Visit, VitalSigns
from patients.selectors import patient_search
from uscpis.bench import BenchCase, api_case, page_case
from uscpis.benchhttp import HttpPage

BENCH_PREFIX = "B"  # bench patients' ID numbers: B0000001...
HEAVY_ID = "BENCH-HEAVY"
REGISTRATION_SPAN = 5 * 365 * 86400  # seconds
# The demo data's names plus a few more, so 100,000 bench patients vary.
FIRST = [
    *seed.FIRST,
    "Ramon",
    "Lourdes",
    "Ernesto",
    "Teresita",
    "Rogelio",
    "Maricel",
    "Danilo",
    "Rowena",
    "Arnel",
    "Girlie",
]
LAST = [
    *seed.LAST,
    "Alcantara",
    "Magsaysay",
    "Quiñones",
    "Dimaculangan",
    "Pacquiao",
    "Yap",
    "Go",
    "Sy",
    "Ong",
    "Chua",
]
COLLEGES = [
    "Engineering",
    "Business and Economics",
    "Health Care Professions",
    "Arts and Sciences",
    "Architecture",
    "Computer Science",
    "Law",
    "Education",
]


def generate(scale: dict, stdout) -> None:
    """Top up to ``scale['patients']`` bench patients (bulk inserts in batches) and give one
    patient 700 visits for the chart case. Idempotent."""

    target = int(scale.get("patients", 0))
    have = Patient.objects.filter(id_number__startswith=BENCH_PREFIX + "0").count()
    rng = random.Random(2026 + have)
    now = timezone.now()
    batch: list[Patient] = []
    for i in range(have + 1, target + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        student = rng.random() < 0.85
        p = Patient(
            id_number=f"{BENCH_PREFIX}{i:07d}",
            first_name=first,
            last_name=last,
            middle_name=rng.choice(LAST),
            sex=rng.choice("FM"),
            birth_date=date(1960, 1, 1) + timedelta(days=rng.randint(0, 16000)),
            email=f"bench{i}@usc.edu.ph",
            patient_type="student" if student else "employee",
            college=rng.choice(COLLEGES) if student else "",
            year_level=rng.randint(1, 5) if student else None,
        )
        # Registered over five years (about 55 a day), not all today: the "Registered
        # today" tile and anything else filtering on it must see a realistic spread.
        p.created_at = now - timedelta(seconds=rng.randrange(REGISTRATION_SPAN))
        p.refresh_search_text()
        batch.append(p)
        if len(batch) >= 5000:
            Patient.objects.bulk_create(batch)
            batch = []
            stdout.write(f"  patients: {i} / {target}")
    if batch:
        Patient.objects.bulk_create(batch)
    _heavy_patient(stdout)


@transaction.atomic
def _heavy_patient(stdout) -> None:

    patient, _ = Patient.objects.get_or_create(
        id_number=HEAVY_ID,
        defaults={
            "first_name": "Heavy",
            "last_name": "Chart",
            "sex": "F",
            "birth_date": date(1990, 1, 1),
            "search_text": "chart heavy bench-heavy",
        },
    )
    have = Visit.objects.filter(patient=patient).count()
    if have >= 700:
        return
    doctor = User.objects.filter(role="doctor").order_by("id").first()
    if not Icd10Code.objects.exists():  # e.g. a flushed test database
        icd10_load()
    codes = list(Icd10Code.objects.filter(is_leaf=True).order_by("code")[:50])
    now = timezone.now()
    visits = Visit.objects.bulk_create(
        [
            Visit(
                patient=patient,
                kind="medical",
                provider=doctor,
                status="signed",
                signed_by=doctor,
                started_at=now - timedelta(days=i),
                signed_at=now - timedelta(days=i),
                chief_complaint="Follow-up",
            )
            for i in range(have, 700)
        ]
    )
    Diagnosis.objects.bulk_create(
        [
            Diagnosis(visit=v, icd10=codes[i % len(codes)], is_primary=True)
            for i, v in enumerate(visits)
        ]
    )
    VitalSigns.objects.bulk_create(
        [
            VitalSigns(
                visit=v,
                recorded_by=doctor,
                recorded_at=v.started_at,
                temperature_c=37,
                systolic=120,
                diastolic=80,
            )
            for v in visits
        ]
    )
    timeline_cache.patients_changed(patient.pk)  # bulk_create sends no signal
    stdout.write(f"  patients: heavy chart patient has 700 visits (id {patient.pk})")


def _doctor():

    return (
        User.objects.filter(email="doctor@usc.edu.ph").first()
        or User.objects.filter(role="doctor").first()
    )


def _heavy_pk() -> int:

    return Patient.objects.get(id_number=HEAVY_ID).pk


def _search_case(name: str, q: str, target_ms: float) -> BenchCase:
    def prepare():

        def run():
            return list(patient_search(q=q)[:25])

        return run

    return BenchCase(
        name=name,
        prepare=prepare,
        target_ms=target_ms,
        description=f"patient_search(q={q!r}) first page at bench scale",
    )


CASES = [
    _search_case("patients.search_name_partial", "dimacul", 150),
    _search_case("patients.search_two_words_accent", "quinones ram", 150),
    _search_case("patients.search_id_number", "B0054321", 50),
    page_case(
        "patients.list_page_search",
        user=_doctor,
        url=lambda: "/patients/?q=sofia+mag",
        target_ms=400,
        description="the patient list page with a search (count + first page)",
    ),
    page_case(
        "patients.chart_700_visits",
        user=_doctor,
        url=lambda: f"/patients/{_heavy_pk()}/",
        target_ms=400,
        description="chart of a patient with 700 visits (newest 20 visits; older ones on demand)",
    ),
    page_case(
        "patients.icd10_autocomplete",
        user=_doctor,
        url=lambda: "/patients/icd10/?q=upper+resp",
        target_ms=150,
        htmx=True,
        description="ICD-10 autocomplete by words",
    ),
    api_case(
        "api: patient search",
        user=_doctor,
        url=lambda: "/api/v1/patients/?q=dimacul",
        target_ms=40,
        description="GET /api/v1/patients/?q= (first cursor page, audited)",
    ),
    api_case(
        "api: patient read",
        user=_doctor,
        url=lambda: f"/api/v1/patients/{_heavy_pk()}/",
        target_ms=40,
        description="GET /api/v1/patients/{id}/ (audited)",
    ),
    api_case(
        "fhir: Patient search by name",
        user=_doctor,
        url=lambda: "/fhir/R4/Patient?name=dimacul",
        target_ms=40,
        accept="application/fhir+json",
        description="FHIR Patient?name= searchset, 20 per page",
    ),
    api_case(
        "fhir: $everything, 700 visits",
        user=_doctor,
        url=lambda: f"/fhir/R4/Patient/{_heavy_pk()}/$everything",
        target_ms=300,
        accept="application/fhir+json",
        description="FHIR Patient/{id}/$everything for the patient with 700 visits",
    ),
]


HTTP_PAGES = [
    HttpPage("patient search, two words", "/patients/?q=quinones+ram", user="doctor@usc.edu.ph"),
    HttpPage("patient search, common fragment", "/patients/?q=mag", user="doctor@usc.edu.ph"),
    HttpPage("patient search, exact ID", "/patients/?q=B0054321", user="doctor@usc.edu.ph"),
    HttpPage("patient list", "/patients/", user="doctor@usc.edu.ph"),
    HttpPage(
        "chart, patient with 700 visits",
        lambda: f"/patients/{_heavy_pk()}/",
        user="doctor@usc.edu.ph",
    ),
    # The API with a personal token, as an integration calls it (mirrors the api_case cases).
    HttpPage(
        "api: patient search", "/api/v1/patients/?q=dimacul", user="doctor@usc.edu.ph", token=True
    ),
    HttpPage(
        "api: patient read",
        lambda: f"/api/v1/patients/{_heavy_pk()}/",
        user="doctor@usc.edu.ph",
        token=True,
    ),
    HttpPage(
        "api: FHIR Patient by name",
        "/fhir/R4/Patient?name=dimacul",
        user="doctor@usc.edu.ph",
        token=True,
        accept="application/fhir+json",
    ),
    HttpPage(
        "api: FHIR Patient read",
        lambda: f"/fhir/R4/Patient/{_heavy_pk()}",
        user="doctor@usc.edu.ph",
        token=True,
        accept="application/fhir+json",
    ),
]
