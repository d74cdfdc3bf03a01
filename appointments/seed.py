"""Demo data: provider profiles for the demo clinicians, weekly schedules, holidays,
appointment types and a realistic month of appointments (three weeks back, ten days ahead).
Idempotent and quick: the appointments are generated once, with bulk inserts."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from appointments import conf
from appointments.models import (
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    AppointmentType,
    AvailabilityException,
    BookingSource,
    ExceptionKind,
    ProviderProfile,
    WeeklyAvailability,
)
from appointments.slots import working_time
from patients.models import Patient

PROVIDERS = [
    ("doctor@usc.edu.ph", "Room 101", [(0, 5, "08:00", "12:00"), (0, 5, "13:00", "17:00")]),
    ("dentist@usc.edu.ph", "Dental Room 2", [(0, 5, "08:00", "12:00"), (0, 4, "13:00", "16:00")]),
    (
        "nurse@usc.edu.ph",
        "Triage",
        [(0, 5, "07:30", "12:00"), (0, 5, "13:00", "17:30"), (5, 6, "08:00", "12:00")],
    ),
]
TYPES = [
    # slug, name, minutes, buffer, roles, kind, self-bookable, lead minutes, horizon days
    ("consultation", "Consultation", 30, 0, [Role.DOCTOR, Role.NURSE], "medical", True, 120, 30),
    ("follow-up", "Follow-up", 15, 0, [Role.DOCTOR], "medical", True, 120, 60),
    (
        "annual-physical",
        "Annual physical exam",
        45,
        15,
        [Role.DOCTOR],
        "medical",
        True,
        24 * 60,
        60,
    ),
    (
        "medical-certificate",
        "Medical certificate",
        15,
        0,
        [Role.DOCTOR, Role.NURSE],
        "medical",
        True,
        60,
        14,
    ),
    ("dental-cleaning", "Dental cleaning", 45, 15, [Role.DENTIST], "dental", True, 24 * 60, 45),
    ("dental-procedure", "Dental procedure", 60, 15, [Role.DENTIST], "dental", False, 24 * 60, 60),
]
REASONS = [
    "Cough and colds",
    "Headache",
    "Fever since yesterday",
    "Follow-up of blood pressure",
    "Clearance for PE class",
    "Toothache",
    "Annual check-up",
    "Skin rash",
    "Stomach ache",
    "Medical certificate for OJT",
    "Sports injury",
    "",
]


def _t(value: str) -> time:
    return time.fromisoformat(value)


def _providers(stdout) -> list[ProviderProfile]:
    profiles = []
    for email, room, blocks in PROVIDERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        profile, created = ProviderProfile.objects.get_or_create(user=user, defaults={"room": room})
        if created:
            stdout.write(f"  provider profile for {email}")
        if not profile.weekly_blocks.exists():
            WeeklyAvailability.objects.bulk_create(
                WeeklyAvailability(provider=profile, weekday=d, start_time=_t(s), end_time=_t(e))
                for first, last, s, e in blocks
                for d in range(first, last)
            )
        profiles.append(profile)
    return profiles


def _types() -> dict[str, AppointmentType]:
    result = {}
    for slug, name, minutes, buffer, roles, kind, self_book, lead, horizon in TYPES:
        result[slug], _ = AppointmentType.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "duration_minutes": minutes,
                "buffer_minutes": buffer,
                "provider_roles": [str(r) for r in roles],
                "visit_kind": kind,
                "self_bookable": self_book,
                "lead_time_minutes": lead,
                "horizon_days": horizon,
            },
        )
    return result


def _holidays(today: date) -> None:
    tz = conf.clinic_tz()
    fixed = [
        (12, 25, "Christmas Day"),
        (12, 30, "Rizal Day"),
        (1, 1, "New Year's Day"),
        (11, 30, "Bonifacio Day"),
        (12, 8, "Feast of the Immaculate Conception"),
    ]
    for year in (today.year, today.year + 1):
        for month, day, note in fixed:
            d = date(year, month, day)
            if abs((d - today).days) > 60:
                continue
            start = datetime.combine(d, time.min).replace(tzinfo=tz)
            AvailabilityException.objects.get_or_create(
                provider=None,
                kind=ExceptionKind.HOLIDAY,
                starts_at=start,
                defaults={"ends_at": start + timedelta(days=1), "note": note},
            )


def _patients():

    student = User.objects.filter(email="student@usc.edu.ph").first()
    if student is not None and not Patient.objects.filter(user=student).exists():
        Patient.objects.get_or_create(
            id_number="18100234",
            defaults={
                "user": student,
                "first_name": student.first_name or "Bea",
                "last_name": student.last_name or "Ramos",
                "sex": "F",
                "birth_date": date(2004, 3, 14),
                "email": student.email,
            },
        )
        Patient.objects.filter(id_number="18100234", user__isnull=True).update(user=student)
    if Patient.objects.count() < 12:
        rng = random.Random(11)
        first = [
            "Juan",
            "Ana",
            "Miguel",
            "Sofia",
            "Carlo",
            "Angela",
            "Rafael",
            "Patricia",
            "Gabriel",
            "Nicole",
            "Paolo",
            "Kristine",
        ]
        last = [
            "Dela Cruz",
            "Santos",
            "Reyes",
            "Garcia",
            "Mendoza",
            "Ocampo",
            "Villanueva",
            "Aquino",
        ]
        for i, name in enumerate(first):
            Patient.objects.get_or_create(
                id_number=f"2390{i:04d}",
                defaults={
                    "first_name": name,
                    "last_name": last[i % len(last)],
                    "sex": "F" if name[-1] == "a" else "M",
                    "birth_date": date(2003, 1, 1) + timedelta(days=rng.randint(0, 1500)),
                },
            )
    return list(Patient.objects.order_by("id")[:200]), Patient.objects.filter(
        user=student
    ).first() if student else None


@transaction.atomic
def run(*, stdout) -> None:
    today = timezone.localdate()
    providers = _providers(stdout)
    types = _types()
    _holidays(today)
    if not providers or Appointment.objects.exists():
        return
    patients, demo_patient = _patients()
    if not patients:
        return
    rng = random.Random(2026)
    now = timezone.now()
    tz = conf.clinic_tz()
    first_day, last_day = today - timedelta(days=21), today + timedelta(days=10)
    window = (
        datetime.combine(first_day, time.min).replace(tzinfo=tz),
        datetime.combine(last_day + timedelta(days=1), time.min).replace(tzinfo=tz),
    )
    working = working_time([p.pk for p in providers], window)
    by_role = {}
    for t in types.values():
        for role in t.provider_roles:
            by_role.setdefault(role, []).append(t)
    patient_busy: dict[int, list] = {}
    appointments = []
    for p in providers:
        options = [
            t for t in by_role.get(p.user.role, []) if t.slug != "follow-up" or rng.random() < 0.5
        ]
        for s, e in working.get(p.pk, []):
            t = s
            while True:
                kind = rng.choice(options)
                end = t + timedelta(minutes=kind.duration_minutes)
                held = end + timedelta(minutes=kind.buffer_minutes)
                if end > e:
                    break
                future = t > now
                if rng.random() < (0.45 if future else 0.7):
                    patient = rng.choice(patients)
                    if demo_patient and rng.random() < 0.04:
                        patient = demo_patient
                    clash = any(bs < end and be > t for bs, be in patient_busy.get(patient.pk, []))
                    if not clash:
                        patient_busy.setdefault(patient.pk, []).append((t, end))
                        appointments.append(_make(p, kind, patient, t, end, held, now, rng))
                        t = held
                        continue
                t += timedelta(minutes=15)
    Appointment.objects.bulk_create(appointments, batch_size=1000)
    AppointmentEvent.objects.bulk_create(
        [
            AppointmentEvent(
                appointment=a,
                at=a.created_at,
                from_status="",
                to_status=AppointmentStatus.BOOKED,
                note="Booked (demo data)",
            )
            for a in appointments
        ]
        + [
            AppointmentEvent(
                appointment=a,
                at=a.start,
                from_status=AppointmentStatus.BOOKED,
                to_status=a.status,
                note="demo data",
            )
            for a in appointments
            if a.status != AppointmentStatus.BOOKED
        ],
        batch_size=2000,
    )
    stdout.write(f"  {len(appointments)} appointments over {first_day:%d %b} – {last_day:%d %b}")


def _make(provider, kind, patient, start, end, held, now, rng) -> Appointment:
    if end < now:
        roll = rng.random()
        status = (
            AppointmentStatus.COMPLETED
            if roll < 0.8
            else AppointmentStatus.NO_SHOW
            if roll < 0.9
            else AppointmentStatus.CANCELLED
        )
    elif start < now:
        status = AppointmentStatus.IN_CONSULTATION
    elif start < now + timedelta(hours=3) and start.date() == now.date():
        status = rng.choice(
            [AppointmentStatus.CHECKED_IN, AppointmentStatus.CONFIRMED, AppointmentStatus.BOOKED]
        )
    else:
        status = AppointmentStatus.CONFIRMED if rng.random() < 0.4 else AppointmentStatus.BOOKED
    checked = status in (
        AppointmentStatus.COMPLETED,
        AppointmentStatus.IN_CONSULTATION,
        AppointmentStatus.CHECKED_IN,
    )
    return Appointment(
        patient=patient,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=end,
        end_with_buffer=held,
        status=status,
        source=rng.choice([BookingSource.ONLINE] * 3 + [BookingSource.STAFF]),
        reason=rng.choice(REASONS),
        created_at=start - timedelta(days=rng.randint(1, 10)),
        checked_in_at=min(start, now) - timedelta(minutes=rng.randint(0, 20)) if checked else None,
        consultation_started_at=start + timedelta(minutes=rng.randint(0, 10))
        if status in (AppointmentStatus.COMPLETED, AppointmentStatus.IN_CONSULTATION)
        else None,
        completed_at=end if status == AppointmentStatus.COMPLETED else None,
        cancel_reason="Schedule conflict with class"
        if status == AppointmentStatus.CANCELLED
        else "",
    )
