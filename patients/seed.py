"""Demo data for patient records: realistic patients (one linked to student@usc.edu.ph),
one self-registered account still awaiting its record, signed medical and dental visits
with vitals, ICD-10 diagnoses, prescriptions and tooth charts, and certificates.
Idempotent and quick (bulk inserts, no audit noise)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.seed import DEMO_PASSWORD
from patients import timeline_cache
from patients.icd10 import icd10_load
from patients.models import (
    Allergy,
    CertificateStatus,
    Diagnosis,
    Icd10Code,
    Immunization,
    MedicalCertificate,
    MedicalHistoryEntry,
    Medication,
    Patient,
    Prescription,
    ToothRecord,
    Visit,
    VisitKind,
    VisitStatus,
    VitalSigns,
)
from patients.services.visits import compute_bmi

FIRST = [
    "José",
    "María",
    "Juan",
    "Ana",
    "Miguel",
    "Sofía",
    "Carlo",
    "Angela",
    "Rafael",
    "Patricia",
    "Gabriel",
    "Nicole",
    "Paolo",
    "Kristine",
    "Mark",
    "Jasmine",
    "Joshua",
    "Camille",
    "Christian",
    "Bea",
]
LAST = [
    "Dela Cruz",
    "Santos",
    "Reyes",
    "García",
    "Mendoza",
    "Bautista",
    "Ocampo",
    "Villanueva",
    "Ramos",
    "Aquino",
    "Castillo",
    "Fernández",
    "Navarro",
    "Tan",
    "Lim",
    "Gómez",
    "Peña",
    "Sarmiento",
    "Uy",
    "Cabrera",
]
COLLEGES = [
    ("School of Engineering", "BS Civil Engineering"),
    ("School of Business and Economics", "BS Accountancy"),
    ("School of Health Care Professions", "BS Nursing"),
    ("School of Arts and Sciences", "BS Biology"),
    ("School of Architecture, Fine Arts and Design", "BS Architecture"),
    ("School of Computer Science and Information Technology", "BS Computer Science"),
]
COMPLAINTS = [
    (
        "J06.9",
        "Sore throat and cough for 3 days",
        "Paracetamol",
        "500 mg",
        "every 6 hours as needed",
        10,
    ),
    ("R51", "Headache since morning", "Paracetamol", "500 mg", "every 6 hours as needed", 6),
    (
        "A09.9",
        "Loose stools, 4 episodes",
        "Oral rehydration salts",
        "1 sachet",
        "after each loose stool",
        6,
    ),
    ("J02.9", "Painful swallowing, fever", "Amoxicillin", "500 mg", "every 8 hours for 7 days", 21),
    (
        "K30",
        "Epigastric pain after meals",
        "Omeprazole",
        "20 mg",
        "once daily before breakfast",
        14,
    ),
    ("T78.4", "Itchy rashes after eating shrimp", "Cetirizine", "10 mg", "once daily", 7),
    ("M54.5", "Low back pain after sports", "Ibuprofen", "400 mg", "every 8 hours after meals", 9),
]
DEMO_ID = "18100234"


def _patient(i: int, rng: random.Random) -> Patient:
    first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
    college, course = COLLEGES[i % len(COLLEGES)]
    is_student = i % 5 != 0
    p = Patient(
        id_number=f"2{i:07d}",
        first_name=first,
        last_name=last,
        middle_name=rng.choice(LAST),
        sex="F"
        if first.endswith("a")
        or first in ("Sofía", "Nicole", "Kristine", "Jasmine", "Camille", "Bea")
        else "M",
        birth_date=date(1975 if not is_student else 2002, 1, 1)
        + timedelta(days=rng.randint(0, 3000)),
        email=f"{first.lower()[:4]}.{last.lower().replace(' ', '')[:6]}{i}@usc.edu.ph".encode(
            "ascii", "ignore"
        ).decode(),
        phone=f"09{rng.randint(100000000, 999999999)}",
        address="Talamban, Cebu City",
        patient_type="student" if is_student else "employee",
        college=college if is_student else "",
        course=course if is_student else "",
        year_level=rng.randint(1, 4) if is_student else None,
        department="" if is_student else "Finance Office",
        emergency_contact_name=f"{rng.choice(FIRST)} {last}",
        emergency_contact_phone="0917 555 0101",
        emergency_contact_relation="Parent",
        blood_type=rng.choice(["O+", "A+", "B+", "AB+", ""]),
        # Every third patient has their PhilHealth PIN on record (not from ``rng``, so the
        # rest of the demo data stays as it was).
        philhealth_pin=demo_philhealth_pin(i) if i % 3 == 0 else None,
    )
    p.refresh_search_text()
    return p


def demo_philhealth_pin(i: int) -> str:
    """A made-up, well-formed PIN (12 digits), distinct for each ``i`` below 126,000."""
    return f"{12 + i % 3:02d}{(100_000_000 + i * 7_919) % 10**9:09d}{i % 10}"


UNLINKED_EMAIL = "maria.villanueva@usc.edu.ph"


def _unlinked_portal_account(stdout) -> None:
    """A self-registered student whose sign-up details did not match the clinic's record,
    so "Portal accounts awaiting a record" has someone to link (created once, never reset:
    linking it in the demo sticks)."""

    user, created = User.objects.get_or_create(
        email=UNLINKED_EMAIL,
        defaults={
            "first_name": "María",
            "last_name": "Villanueva",
            "role": Role.PATIENT,
            "date_joined": timezone.now() - timedelta(days=2),
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        stdout.write(f"  created patient {UNLINKED_EMAIL} (awaiting a record)")


@transaction.atomic
def run(*, stdout) -> None:
    if not Icd10Code.objects.exists():  # the data migration's rows were flushed (tests)
        icd10_load()
    _unlinked_portal_account(stdout)
    if Patient.objects.filter(id_number=DEMO_ID).exists():
        stdout.write("  patients: demo data already present")
        return
    rng = random.Random(20260301)
    doctor = User.objects.filter(email="doctor@usc.edu.ph").first()
    dentist = User.objects.filter(email="dentist@usc.edu.ph").first()
    nurse = User.objects.filter(email="nurse@usc.edu.ph").first()
    student = User.objects.filter(email="student@usc.edu.ph").first()
    if not (doctor and dentist and nurse):
        stdout.write("  patients: demo staff missing, skipped")
        return
    patients = [_patient(i, rng) for i in range(1, 61)]
    demo = Patient(
        user=student,
        id_number=DEMO_ID,
        first_name="Bea",
        middle_name="Lopez",
        last_name="Ramos",
        sex="F",
        birth_date=date(2004, 5, 17),
        email="student@usc.edu.ph",
        phone="0917 123 4567",
        address="Nasipit, Talamban, Cebu City",
        patient_type="student",
        college="School of Health Care Professions",
        course="BS Nursing",
        year_level=3,
        emergency_contact_name="Rosa Ramos",
        emergency_contact_phone="0918 765 4321",
        emergency_contact_relation="Mother",
        blood_type="O+",
        philhealth_pin="120345678901",
    )
    demo.refresh_search_text()
    patients = Patient.objects.bulk_create([demo, *patients])
    demo = patients[0]
    Allergy.objects.bulk_create(
        [
            Allergy(
                patient=demo,
                substance="Penicillin",
                reaction="Hives and lip swelling",
                severity="severe",
                recorded_by=nurse,
            ),
            Allergy(
                patient=demo,
                substance="Shrimp",
                reaction="Itchy rashes",
                severity="moderate",
                recorded_by=nurse,
            ),
            *[
                Allergy(
                    patient=p,
                    substance=rng.choice(["Aspirin", "Sulfa drugs", "Peanuts", "Dust mites"]),
                    reaction="Rashes",
                    severity="mild",
                    recorded_by=nurse,
                )
                for p in patients[1::6]
            ],
        ]
    )
    MedicalHistoryEntry.objects.bulk_create(
        [
            MedicalHistoryEntry(
                patient=demo,
                category="chronic",
                description="Bronchial asthma, mild intermittent",
                year=2012,
            ),
            MedicalHistoryEntry(
                patient=demo, category="surgery", description="Appendectomy", year=2016
            ),
            MedicalHistoryEntry(
                patient=demo, category="family", description="Hypertension (father)"
            ),
        ]
    )
    Medication.objects.bulk_create(
        [
            Medication(
                patient=demo,
                name="Salbutamol inhaler",
                dose="100 mcg",
                frequency="2 puffs as needed",
                started_on=date(2019, 6, 1),
            ),
        ]
    )
    Immunization.objects.bulk_create(
        [
            Immunization(
                patient=demo,
                vaccine="Hepatitis B",
                dose_number=n,
                given_on=date(2004, 5, 17) + timedelta(days=30 * n * n),
                lot_number=f"HB-{n}21",
            )
            for n in (1, 2, 3)
        ]
        + [
            Immunization(
                patient=demo,
                vaccine="COVID-19 (Pfizer-BioNTech)",
                dose_number=1,
                given_on=date(2021, 9, 2),
                lot_number="FF2593",
            )
        ]
    )
    codes = {
        c.code: c
        for c in Icd10Code.objects.filter(code__in=[c[0] for c in COMPLAINTS] + ["K02.1", "K05.1"])
    }
    now = timezone.now()
    visits, vitals, diagnoses, rxs, teeth = [], [], [], [], []
    for n, p in enumerate(patients[:40]):
        for k in range(3 if p is demo else 1 + n % 2):
            code, complaint, drug, dose, freq, qty = COMPLAINTS[(n + k) % len(COMPLAINTS)]
            dental = k == 1 and n % 3 == 0
            # Clinic hours (8 AM to 4 PM, clinic time) on a past day.
            day = timezone.localtime(now).date() - timedelta(days=rng.randint(3, 400))
            when = timezone.make_aware(
                datetime.combine(day, time(8 + rng.randint(0, 7), rng.choice((0, 15, 30, 45))))
            )
            provider = dentist if dental else doctor
            v = Visit(
                patient=p,
                kind=VisitKind.DENTAL if dental else VisitKind.MEDICAL,
                provider=provider,
                status=VisitStatus.SIGNED,
                started_at=when,
                signed_at=when + timedelta(minutes=25),
                signed_by=provider,
                created_at=when,
                chief_complaint="Toothache, lower left" if dental else complaint,
                subjective="" if dental else f"{complaint}. No known sick contacts.",
                objective="" if dental else "Awake, not in distress. Throat mildly erythematous.",
                assessment="Dental caries"
                if dental
                else codes[code].title
                if code in codes
                else "",
                plan="" if dental else f"{drug} {dose} {freq}. Increase fluids. Return if worse.",
                treatment_performed="Oral prophylaxis; composite filling on 36" if dental else "",
                treatment_planned="Extraction of 38 (impacted)" if dental else "",
                follow_up="Return in 6 months"
                if dental
                else "Return if symptoms persist after 3 days",
            )
            visits.append((v, code, drug, dose, freq, qty, dental))
    Visit.objects.bulk_create([v[0] for v in visits])
    for v, code, drug, dose, freq, qty, dental in visits:
        if dental:
            teeth += [
                ToothRecord(
                    visit=v,
                    tooth=36,
                    condition="filled",
                    surfaces="O",
                    procedure="filling",
                    procedure_status="performed",
                ),
                ToothRecord(
                    visit=v,
                    tooth=38,
                    condition="impacted",
                    procedure="extraction",
                    procedure_status="planned",
                ),
                ToothRecord(
                    visit=v,
                    tooth=46,
                    condition="caries",
                    surfaces="MO",
                    procedure="filling",
                    procedure_status="planned",
                ),
                ToothRecord(visit=v, tooth=11, condition="healthy"),
            ]
            if "K02.1" in codes:
                diagnoses.append(Diagnosis(visit=v, icd10=codes["K02.1"], is_primary=True))
            continue
        h = Decimal(rng.randint(150, 180))
        w = Decimal(rng.randint(45, 85))
        vitals.append(
            VitalSigns(
                visit=v,
                recorded_at=v.started_at,
                recorded_by=nurse,
                temperature_c=Decimal(f"{rng.choice([36.5, 36.8, 37.2, 37.9, 38.4])}"),
                systolic=rng.randint(100, 130),
                diastolic=rng.randint(65, 85),
                pulse=rng.randint(64, 98),
                respiratory_rate=rng.randint(14, 20),
                spo2=rng.randint(96, 99),
                height_cm=h,
                weight_kg=w,
                bmi=compute_bmi(h, w),
            )
        )
        if code in codes:
            diagnoses.append(Diagnosis(visit=v, icd10=codes[code], is_primary=True))
        rxs.append(
            Prescription(
                visit=v,
                drug_name=drug,
                dose=dose,
                route="oral",
                frequency=freq,
                duration="",
                quantity=qty,
            )
        )
    VitalSigns.objects.bulk_create(vitals)
    Diagnosis.objects.bulk_create(diagnoses)
    Prescription.objects.bulk_create(rxs)
    ToothRecord.objects.bulk_create(teeth)
    timeline_cache.every_chart_changed()  # bulk_create sends no signal
    today = timezone.localdate()
    MedicalCertificate.objects.bulk_create(
        [
            MedicalCertificate(
                patient=demo,
                requested_by=student or doctor,
                status=CertificateStatus.APPROVED,
                purpose="PE class clearance",
                findings="Normal physical examination.",
                fitness="fit",
                valid_from=today - timedelta(days=10),
                valid_until=today + timedelta(days=170),
                recommendations="May participate in PE activities.",
                decided_by=doctor,
                decided_at=now - timedelta(days=10),
                verification_code="DEMO2026FIT",
                created_at=now - timedelta(days=11),
            ),
            MedicalCertificate(
                patient=demo,
                requested_by=student or doctor,
                status=CertificateStatus.PENDING,
                purpose="On-the-job training requirement",
                verification_code="DEMO2026OJT",
            ),
            *[
                MedicalCertificate(
                    patient=p,
                    requested_by=nurse,
                    status=CertificateStatus.PENDING,
                    purpose="Sports fest clearance",
                    verification_code=f"DEMOSF{i:04d}",
                )
                for i, p in enumerate(patients[5:9])
            ],
        ]
    )
    stdout.write(
        f"  patients: {len(patients)} patients, {len(visits)} visits, certificates and tooth charts"
    )
