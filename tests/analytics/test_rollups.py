"""Every rollup equals the same figure computed from the raw tables (in Python, with the
ORM), on generated data with cancelled and rescheduled appointments, draft visits, expiry
write-offs, returns to vendor and events at 23:30 / 00:30 clinic time."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.models import (
    DiagnosisFact,
    StockFact,
    StockMonthFact,
    StockMonthTotal,
    SyndromeDaily,
    SyndromeGroup,
    VisitFact,
)
from analytics.services.rollups import local_day, rollup_rebuild, rollup_refresh_day
from appointments.models import Appointment
from inventory.models import StockMovement
from patients.models import Diagnosis, Visit
from tests.analytics.factories import local, make_world

pytestmark = pytest.mark.django_db

FIRST = timezone.localdate() - timedelta(days=10)
DAYS = 4


def _band(patient, day):
    age = (
        day.year
        - patient.birth_date.year
        - ((day.month, day.day) < (patient.birth_date.month, patient.birth_date.day))
    )
    for limit, band in ((18, "<18"), (25, "18-24"), (35, "25-34"), (50, "35-49"), (65, "50-64")):
        if age < limit:
            return band
    return "65+"


def _dims(patient, day):
    return (
        patient.patient_type,
        patient.college or patient.department,
        patient.sex,
        _band(patient, day),
    )


def _minutes(delta):
    return round(delta.total_seconds() / 60)


def _expected_visit_facts():
    cells = defaultdict(Counter)
    for a in Appointment.objects.select_related("patient", "provider", "appointment_type"):
        day = local_day(a.start)
        key = (
            day,
            a.provider.user_id,
            a.appointment_type_id,
            a.appointment_type.visit_kind,
            *_dims(a.patient, day),
        )
        c = cells[key]
        c["appointments"] += 1
        c["completed"] += a.status == "completed"
        c["cancelled"] += a.status == "cancelled"
        c["no_shows"] += a.status == "no_show"
        c["walk_ins"] += a.source == "walk_in" and a.status != "cancelled"
        c["booked_minutes"] += _minutes(a.end - a.start) if a.status != "cancelled" else 0
        if a.checked_in_at and a.consultation_started_at:
            c["waits"] += 1
            c["wait_minutes"] += _minutes(a.consultation_started_at - a.checked_in_at)
        if a.consultation_started_at and a.completed_at:
            c["consults"] += 1
            c["consult_minutes"] += _minutes(a.completed_at - a.consultation_started_at)
    for v in Visit.objects.select_related("patient"):
        day = local_day(v.started_at)
        appt = Appointment.objects.filter(visit=v).order_by("id").first()
        key = (
            day,
            v.provider_id,
            appt.appointment_type_id if appt else None,
            v.kind,
            *_dims(v.patient, day),
        )
        c = cells[key]
        c["visits"] += 1
        c["signed_visits"] += v.signed_at is not None
        c["sign_minutes"] += _minutes(v.signed_at - v.started_at) if v.signed_at else 0
    return {k: {m: n for m, n in c.items() if n} for k, c in cells.items()}


MEASURES = [
    "appointments",
    "completed",
    "cancelled",
    "no_shows",
    "walk_ins",
    "booked_minutes",
    "waits",
    "wait_minutes",
    "consults",
    "consult_minutes",
    "visits",
    "signed_visits",
    "sign_minutes",
]


def _actual_visit_facts():
    out = {}
    for f in VisitFact.objects.all():
        key = (
            f.day,
            f.provider_id,
            f.appointment_type_id,
            f.visit_kind,
            f.patient_type,
            f.unit,
            f.sex,
            f.age_band,
        )
        assert key not in out
        out[key] = {m: getattr(f, m) for m in MEASURES if getattr(f, m)}
    return out


def test_every_rollup_equals_the_raw_tables():
    world = make_world(FIRST, DAYS)
    assert rollup_rebuild(since=FIRST - timedelta(days=1), until=timezone.localdate()) >= DAYS

    assert _actual_visit_facts() == _expected_visit_facts()

    expected_dx = Counter()
    for d in Diagnosis.objects.select_related("visit__patient"):
        v = d.visit
        day = local_day(v.started_at)
        expected_dx[(day, d.icd10_id, v.kind, v.provider_id, *_dims(v.patient, day))] += 1
    actual_dx = {
        (
            f.day,
            f.icd10_code,
            f.visit_kind,
            f.provider_id,
            f.patient_type,
            f.unit,
            f.sex,
            f.age_band,
        ): f.diagnoses
        for f in DiagnosisFact.objects.all()
    }
    assert actual_dx == dict(expected_dx)

    # Syndromes: visits (not diagnoses) with a matching code, per day.
    for group in SyndromeGroup.objects.filter(is_active=True):
        expected = Counter()
        for v in Visit.objects.prefetch_related("diagnoses"):
            if any(d.icd10_id.startswith(tuple(group.icd10_prefixes)) for d in v.diagnoses.all()):
                expected[local_day(v.started_at)] += 1
        actual = dict(SyndromeDaily.objects.filter(group=group).values_list("day", "cases"))
        assert actual == dict(expected), group.slug

    # Stock: per item and day, outflows positive, closing = everything up to the day's end.
    for item in world["items"]:
        for fact in StockFact.objects.filter(item=item):
            moves = list(StockMovement.objects.filter(item=item))
            today = [m for m in moves if local_day(m.created_at) == fact.day]

            def by(kind, reasons=None, today=today):
                chosen = (
                    m.quantity
                    for m in today
                    if m.kind == kind and (reasons is None or m.reason_code in reasons)
                )
                return -sum(chosen, Decimal(0))

            assert fact.dispensed == by("dispense")
            assert fact.expired == by("dispose", {"expired"})
            assert fact.returned == by("dispose", {"return_to_vendor"})
            assert fact.received == -by("receive")
            returns = [m.quantity for m in today if m.note.startswith("Cancels dispensing #")]
            assert fact.patient_returns == sum(returns, Decimal(0))
            assert fact.adjusted == -by("adjust") - fact.patient_returns
            assert fact.dispensed_value == sum(
                (-m.quantity * m.unit_cost for m in today if m.kind == "dispense"), Decimal(0)
            )
            assert fact.closing == sum(
                (m.quantity for m in moves if local_day(m.created_at) <= fact.day), Decimal(0)
            )


def test_day_boundaries_are_clinic_time():
    make_world(FIRST, 1)
    rollup_refresh_day(day=FIRST)
    facts = VisitFact.objects.filter(day=FIRST)
    # Five appointments scheduled from 00:30 to 23:30 local; the one moved away from this
    # day (rescheduled to 00:05 the next day) is not counted here.
    assert sum(f.appointments for f in facts) == 5
    item = StockFact.objects.get(day=FIRST, dispensed__gt=0)
    assert item.dispensed == Decimal("10")  # 00:30 + 12:00 + 23:30 all belong to FIRST
    assert item.patient_returns == Decimal("5")  # the 23:30 dispensing, cancelled at 23:50


def test_refresh_is_idempotent_and_follows_changes():
    make_world(FIRST, 2)
    rollup_refresh_day(day=FIRST)
    before = sorted(VisitFact.objects.filter(day=FIRST).values_list("appointments", flat=True))
    rollup_refresh_day(day=FIRST)
    assert (
        sorted(VisitFact.objects.filter(day=FIRST).values_list("appointments", flat=True)) == before
    )
    # Move one appointment to another day: the old day's cell shrinks on the next refresh.
    appt = Appointment.objects.filter(start__date__gte=FIRST).exclude(status="cancelled").first()
    day = local_day(appt.start)
    rollup_refresh_day(day=day)
    total = sum(VisitFact.objects.filter(day=day).values_list("appointments", flat=True))
    new_start = local(day + timedelta(days=20), 9)
    Appointment.objects.filter(pk=appt.pk).update(
        start=new_start,
        end=new_start + timedelta(minutes=20),
        end_with_buffer=new_start + timedelta(minutes=20),
    )
    rollup_refresh_day(day=day)
    assert (
        sum(VisitFact.objects.filter(day=day).values_list("appointments", flat=True)) == total - 1
    )


def test_rebuild_command(capsys):
    make_world(FIRST, 1)
    out = io.StringIO()
    call_command("analytics", "rebuild", "--since", FIRST.isoformat(), "--rollups-only", stdout=out)
    assert "Rebuilt" in out.getvalue()
    assert VisitFact.objects.filter(day=FIRST).exists()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("analytics", "rebuild", "--since", "not-a-date")


def _snapshot():
    return {
        model.__name__: sorted(
            tuple(str(v) for k, v in row.items() if k != "id") for row in model.objects.values()
        )
        for model in (
            VisitFact,
            DiagnosisFact,
            SyndromeDaily,
            StockFact,
            StockMonthFact,
            StockMonthTotal,
        )
    }


def test_one_day_refreshes_equal_a_monthly_rebuild():
    make_world(FIRST, DAYS)
    today = timezone.localdate()
    rollup_rebuild(since=FIRST - timedelta(days=1), until=today, chunk_days=31)
    monthly = _snapshot()
    day = FIRST - timedelta(days=1)
    while day <= today:
        rollup_refresh_day(day=day)
        day += timedelta(days=1)
    assert _snapshot() == monthly


def test_data_quality_rollup_equals_the_raw_tables(client_for, doctor_user):
    from analytics.models import QualityFact
    from analytics.selectors.operations import quality_counts, quality_querysets
    from inventory.models import MovementKind

    world = make_world(FIRST, DAYS)
    # Make one of each problem at the day edges: a visit signed without a diagnosis
    # (23:30), a completed appointment whose visit was unlinked (00:30), a dispensing
    # without a patient (23:30).
    visit = Visit.objects.filter(status="signed").order_by("started_at").first()
    visit.diagnoses.all().delete()
    appt = Appointment.objects.filter(status="completed").order_by("-start").first()
    appt.visit = None
    appt.save(update_fields=["visit"])
    item = world["items"][0]
    lot = StockMovement.objects.filter(item=item).first().lot
    StockMovement.objects.create(
        lot=lot,
        item=item,
        kind=MovementKind.DISPENSE,
        reason_code="patient",
        quantity=Decimal("-1"),
        unit_cost=Decimal("3.00"),
        destination="Sports fest first-aid kit",
        created_at=local(FIRST + timedelta(days=1), 23, 30),
    )
    rollup_rebuild(since=FIRST - timedelta(days=1), until=timezone.localdate())
    querysets = quality_querysets()
    fields = {"no-diagnosis": "started_at", "no-visit": "start", "no-patient": "created_at"}
    for problem, field in fields.items():
        expected = Counter(local_day(getattr(row, field)) for row in querysets[problem])
        actual = dict(QualityFact.objects.filter(problem=problem).values_list("day", "rows"))
        assert actual == dict(expected) and actual, problem
    counts = {key: n for key, _, n in quality_counts()}
    for problem in fields:
        assert counts[problem] == querysets[problem].count()
    # The drill-down lists the same rows the rollup counted.
    client = client_for(doctor_user)
    page = client.get("/analytics/quality/no-diagnosis/").content.decode()
    assert visit.patient.last_name in page
