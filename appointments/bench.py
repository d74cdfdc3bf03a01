"""Benchmarks for appointments: free-slot search for a provider-week and the clinic day view
with ``scale["appointments"]`` (default 1,000,000) appointments in the database.

Generation is one ``INSERT ... SELECT generate_series`` per 100,000 rows (no ORM saves), on
ten dedicated bench providers with their own bench patients, so the exclusion constraints
never trip over demo data. It tops up to the target and can be re-run.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from appointments import conf
from appointments.models import Appointment, AppointmentType, ProviderProfile, WeeklyAvailability
from appointments.slots import MAX_SPAN, free_slots, local_day_bounds
from patients.models import Patient
from uscpis.bench import BenchCase, api_case, page_case
from uscpis.benchhttp import HttpPage

PROVIDERS = 10
SLOTS_PER_DAY = 16  # 08:00–12:00 and 13:00–17:00, 30 minutes each
BENCH_PATIENTS = 2000
BATCH = 100_000
FUTURE_DAYS = 14


def _bench_providers():

    roles = [
        Role.DOCTOR,
        Role.DOCTOR,
        Role.DOCTOR,
        Role.DOCTOR,
        Role.NURSE,
        Role.NURSE,
        Role.NURSE,
        Role.DENTIST,
        Role.DENTIST,
        Role.DOCTOR,
    ]
    profiles = []
    for i in range(PROVIDERS):
        user, _ = User.objects.get_or_create(
            email=f"bench.provider{i}@usc.edu.ph",
            defaults={"first_name": f"Bench{i}", "last_name": "Provider", "role": roles[i]},
        )
        profile, created = ProviderProfile.objects.get_or_create(
            user=user, defaults={"room": f"B{i}"}
        )
        if created:
            WeeklyAvailability.objects.bulk_create(
                WeeklyAvailability(provider=profile, weekday=d, start_time=s, end_time=e)
                for d in range(7)
                for s, e in ((time(8), time(12)), (time(13), time(17)))
            )
        profiles.append(profile)
    return profiles


def _bench_type():

    kind, _ = AppointmentType.objects.get_or_create(
        slug="bench-consultation",
        defaults={
            "name": "Bench consultation",
            "duration_minutes": 30,
            "buffer_minutes": 0,
            "provider_roles": [Role.DOCTOR.value, Role.NURSE.value, Role.DENTIST.value],
            "lead_time_minutes": 0,
            "horizon_days": 60,
            "self_bookable": True,
        },
    )
    return kind


def _bench_patients() -> list[int]:

    existing = Patient.objects.filter(id_number__startswith="BENCH").count()
    if existing < BENCH_PATIENTS:
        Patient.objects.bulk_create(
            [
                Patient(
                    id_number=f"BENCH{i:06d}",
                    first_name="Bench",
                    last_name=f"Patient {i}",
                    sex="F",
                    birth_date=date(2000, 1, 1),
                    search_text=f"patient {i} bench bench{i:06d}",
                    # Registered over the past years, like the rest of the bench patients.
                    created_at=timezone.now() - timedelta(days=1 + i % 1500),
                )
                for i in range(existing, BENCH_PATIENTS)
            ],
            batch_size=2000,
        )
    return list(
        Patient.objects.filter(id_number__startswith="BENCH")
        .order_by("id")
        .values_list("id", flat=True)
    )


INSERT_SQL = """
WITH params AS (
    SELECT %(providers)s::bigint[] AS providers, %(patients)s::bigint[] AS patients
), series AS (
    SELECT n, n / %(per_day)s AS day_index, (n / %(slots)s) %% %(nprov)s AS prov_index, n %% %(slots)s AS slot
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
), timed AS (
    SELECT s.n, s.slot, p.providers[s.prov_index + 1] AS provider_id,
           p.patients[(s.n %% array_length(p.patients, 1)) + 1] AS patient_id,
           ((%(anchor)s::date - s.day_index::int) + time '08:00' + s.slot * interval '30 minutes'
             + CASE WHEN s.slot >= 8 THEN interval '1 hour' ELSE interval '0' END) AT TIME ZONE %(tz)s AS start
    FROM series s CROSS JOIN params p
)
INSERT INTO appointments_appointment
    (patient_id, provider_id, appointment_type_id, start, "end", end_with_buffer, status, source, reason,
     cancel_reason, visit_ref, sequence, created_at, updated_at)
SELECT patient_id, provider_id, %(type_id)s, start, start + interval '30 minutes', start + interval '30 minutes',
       CASE WHEN start > now() THEN 'booked'
            WHEN n %% 100 < 8 THEN 'no_show' WHEN n %% 100 < 15 THEN 'cancelled' ELSE 'completed' END,
       'online', 'Bench', '', '', 0, start - interval '3 days', now()
FROM timed
WHERE start <= now() OR slot %% 2 = 0
"""


def generate(scale: dict, stdout) -> None:
    """Top the bench providers up to ``scale["appointments"]`` appointments."""

    target = int(scale.get("appointments", 1_000_000))
    providers = _bench_providers()
    kind = _bench_type()
    patients = _bench_patients()
    per_day = PROVIDERS * SLOTS_PER_DAY
    pids = [p.pk for p in providers]
    existing = Appointment.objects.filter(provider_id__in=pids)
    have = existing.count()
    if have >= target:
        stdout.write(f"  appointments: {have:,} bench appointments already")
        return
    first = 0
    if have:
        # Continue with the day before the earliest bench appointment (all in the past).
        earliest = existing.order_by("start").values_list("start", flat=True).first()
        anchor = min(
            timezone.localtime(earliest, conf.clinic_tz()).date(), timezone.localdate()
        ) - timedelta(days=1)
        last = target - have - 1
    else:
        # Start two weeks ahead; future days keep every other slot free for the slot search.
        anchor = timezone.localdate() + timedelta(days=FUTURE_DAYS)
        last = min(2 * target, target + FUTURE_DAYS * per_day // 2) - 1
    stdout.write(f"  appointments: inserting up to {last - first + 1:,} rows...")
    # Maintaining two GiST exclusion indexes row by row is most of the cost of a big load;
    # dropping the constraints and adding them back (one bulk build, which also re-checks
    # every row) inside the same transaction is several times faster and never leaves the
    # table unprotected.
    big = last - first >= BATCH
    exclusions = (
        [c for c in Appointment._meta.constraints if c.name.startswith("appointments_no_")]
        if big
        else []
    )
    with transaction.atomic(), connection.schema_editor(atomic=False) as editor:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for constraint in exclusions:
            editor.remove_constraint(Appointment, constraint)
        for start in range(first, last + 1, BATCH):
            end = min(last, start + BATCH - 1)
            with connection.cursor() as cursor:
                cursor.execute(
                    INSERT_SQL,
                    {
                        "providers": pids,
                        "patients": patients,
                        "per_day": per_day,
                        "slots": SLOTS_PER_DAY,
                        "nprov": PROVIDERS,
                        "first": start,
                        "last": end,
                        "anchor": anchor,
                        "tz": conf.clinic_tz().key,
                        "type_id": kind.pk,
                    },
                )
            stdout.write(f"    ... {end + 1 - first:,}")
        if exclusions:
            stdout.write("    rebuilding the exclusion constraints...")
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred FK checks first
        for constraint in exclusions:
            editor.add_constraint(Appointment, constraint)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE appointments_appointment")
    stdout.write(f"  appointments: {Appointment.objects.count():,} in total")


# --- Cases ----------------------------------------------------------------------------------


def _provider():

    return ProviderProfile.objects.select_related("user").get(
        user__email="bench.provider0@usc.edu.ph"
    )


def _slot_search_case():

    provider = _provider()
    kind = AppointmentType.objects.get(slug="bench-consultation")
    first = timezone.localdate() + timedelta(days=1)

    def run():
        slots = free_slots(
            appointment_type=kind,
            provider=provider,
            date_from=first,
            date_to=first + timedelta(days=6),
        )
        if not slots:
            raise RuntimeError("no free slots found in the bench provider-week")
        return slots

    return run


def _api_slots_url() -> str:

    kind = AppointmentType.objects.get(slug="bench-consultation")
    first = timezone.localdate() + timedelta(days=1)
    return (
        f"/api/v1/slots/?appointment_type={kind.pk}&provider={_provider().pk}"
        f"&date_from={first}&date_to={first + timedelta(days=6)}"
    )


def _busy_day() -> str:
    return (timezone.localdate() - timedelta(days=3)).isoformat()


def _front_desk():

    return User.objects.get(email="frontdesk@usc.edu.ph")


def _plans_case():
    """Fail if the calendar and slot queries fall back to sequential scans of appointments."""

    provider = _provider()
    day_start, day_end = local_day_bounds(timezone.localdate() - timedelta(days=3))
    week_start, week_end = day_start + timedelta(days=4), day_start + timedelta(days=11)
    queries = {
        "clinic day": Appointment.objects.with_related()
        .filter(start__gte=day_start, start__lt=day_end)
        .exclude(status="cancelled"),
        "provider week busy": Appointment.objects.active()
        .filter(
            provider_id__in=[provider.pk],
            start__gte=week_start - MAX_SPAN,
            start__lt=week_end,
            end_with_buffer__gt=week_start,
        )
        .values_list("provider_id", "start", "end_with_buffer"),
    }

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'appointments_appointment'")
        rows = cursor.fetchone()[0]
    # On a tiny table a sequential scan is the right plan; insist on indexes at scale only.
    strict = rows >= 50_000

    def run():
        report = {}
        for name, qs in queries.items():
            plan = qs.explain()
            # Word boundary: "appointments_appointmenttype" (7 rows) may be seq-scanned.
            if strict and re.search(r"Seq Scan on appointments_appointment\b", plan):
                raise RuntimeError(f"{name}: sequential scan of appointments:\n{plan}")
            report[name] = plan
        return report

    return run


CASES = [
    api_case(
        "api: free slots, provider-week",
        user=_front_desk,
        url=lambda: _api_slots_url(),
        target_ms=40,
        description="GET /api/v1/slots/ for one provider over 7 days with 1M appointments",
    ),
    BenchCase(
        "appointments: free slots, provider-week",
        _slot_search_case,
        target_ms=50,
        description="free_slots() for one provider over 7 days with 1M appointments",
    ),
    page_case(
        "appointments: clinic day view",
        user=_front_desk,
        url=lambda: f"/appointments/calendar/?date={_busy_day()}",
        target_ms=50,
        description="whole-clinic day calendar on a full day",
    ),
    page_case(
        "appointments: clinic day view (HTMX)",
        user=_front_desk,
        url=lambda: f"/appointments/calendar/?date={_busy_day()}",
        target_ms=50,
        htmx=True,
        description="the calendar-grid fragment only",
    ),
    page_case(
        "appointments: provider week view",
        user=_front_desk,
        url=lambda: (
            f"/appointments/calendar/?view=week&provider={_provider().pk}&date={_busy_day()}"
        ),
    ),
    page_case(
        "appointments: clinic week view",
        user=_front_desk,
        url=lambda: f"/appointments/calendar/?view=week&date={_busy_day()}",
        description="every appointment of the clinic's week (about 1,100 at bench scale)",
    ),
    page_case(
        "appointments: today's queue",
        user=_front_desk,
        url=lambda: "/appointments/queue/",
        target_ms=None,
    ),
    BenchCase(
        "appointments: query plans use indexes",
        _plans_case,
        target_ms=None,
        description="EXPLAIN of the day-view and slot-search queries has no Seq Scan on appointments",
    ),
]


def _booking_url() -> str:

    kind = AppointmentType.objects.get(slug="bench-consultation")
    first = timezone.localdate() + timedelta(days=1)
    return f"/appointments/new/?type={kind.pk}&provider={_provider().pk}&date={first.isoformat()}"


HTTP_PAGES = [
    HttpPage("free slots (booking page)", _booking_url, user="frontdesk@usc.edu.ph"),
    HttpPage(
        "clinic day calendar",
        lambda: f"/appointments/calendar/?date={_busy_day()}",
        user="frontdesk@usc.edu.ph",
    ),
    HttpPage(
        "api: free slots, provider-week", _api_slots_url, user="frontdesk@usc.edu.ph", token=True
    ),
]
