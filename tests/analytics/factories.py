"""Generated clinic data for the analytics tests: appointments (every status, rescheduled,
walk-ins), visits with diagnoses, and stock movements (dispensing, expiry, returns), with
events at 23:30 and 00:30 clinic time so day boundaries are exercised."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from accounts.roles import Role
from appointments.models import Appointment
from inventory.models import MovementKind, ReasonCode, StockMovement
from patients.models import Diagnosis, Icd10Code, Patient, Visit
from tests.appointments.factories import AppointmentTypeFactory, ProviderFactory
from tests.factories import UserFactory
from tests.inventory.factories import ItemFactory, receive

COLLEGES = [
    "School of Engineering",
    "School of Business and Economics",
    "School of Arts and Sciences",
]
CODES = ["J06.9", "A09", "A90", "H10.9", "F41.1", "I10", "K02.1"]


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(settings.TIME_ZONE))


def ensure_codes(codes=CODES) -> None:
    for code in codes:
        Icd10Code.objects.get_or_create(code=code, defaults={"title": f"Code {code}"})


def make_world(first: date, days: int = 4, seed: int = 7) -> dict:
    rng = random.Random(seed)
    ensure_codes()
    doctor = ProviderFactory(user=UserFactory(role=Role.DOCTOR), hours=[])
    nurse = ProviderFactory(user=UserFactory(role=Role.NURSE), hours=[])
    kinds = [AppointmentTypeFactory(), AppointmentTypeFactory(visit_kind="dental")]
    patients = []
    for i in range(12):
        patients.append(
            Patient.objects.create(
                id_number=f"AN{seed}{i:04d}",
                first_name="Ana",
                last_name=f"Lytics {i}",
                sex="F" if i % 2 else "M",
                birth_date=date(1960 + 4 * i, 3, 1 + i),
                patient_type="student" if i % 3 else "employee",
                college=COLLEGES[i % 3] if i % 3 else "",
                department="" if i % 3 else "Finance Office",
            )
        )
    statuses = ["completed", "completed", "cancelled", "no_show", "booked", "checked_in"]
    slot = 0
    for d in range(days):
        day = first + timedelta(days=d)
        # Edge times: 23:30 and 00:30 clinic time, plus ordinary hours.
        for hh, mm in [(0, 30), (9, 0), (10, 0), (14, 0), (23, 30)]:
            slot += 1
            patient = patients[slot % len(patients)]
            provider = doctor if slot % 2 else nurse
            kind = kinds[slot % 2]
            start = local(day, hh, mm)
            status = statuses[slot % len(statuses)]
            appt = Appointment.objects.create(
                patient=patient,
                provider=provider,
                appointment_type=kind,
                start=start,
                end=start + timedelta(minutes=20),
                end_with_buffer=start + timedelta(minutes=20),
                status=status,
                source="walk_in" if slot % 4 == 0 else "online",
                checked_in_at=start - timedelta(minutes=5) if status == "completed" else None,
                consultation_started_at=start + timedelta(minutes=rng.randint(0, 30))
                if status == "completed"
                else None,
                completed_at=start + timedelta(minutes=40) if status == "completed" else None,
            )
            if status == "completed":
                visit = Visit.objects.create(
                    patient=patient,
                    kind=kind.visit_kind,
                    provider=provider.user,
                    started_at=start + timedelta(minutes=10),
                    status="signed" if slot % 3 else "draft",
                    signed_at=start + timedelta(hours=2) if slot % 3 else None,
                    signed_by=provider.user if slot % 3 else None,
                )
                appt.visit = visit
                appt.save(update_fields=["visit"])
                for code in rng.sample(CODES, rng.randint(1, 2)):
                    Diagnosis.objects.create(
                        visit=visit, icd10_id=code, is_primary=code == CODES[0]
                    )
        # A walk-in visit without an appointment, and a rescheduled appointment moved
        # from this day to the next (it must count on the new day only).
        Visit.objects.create(
            patient=patients[d],
            kind="medical",
            provider=doctor.user,
            started_at=local(day, 23, 45),
        )
        moved = Appointment.objects.create(
            patient=patients[(d + 5) % 12],
            provider=doctor,
            appointment_type=kinds[0],
            start=local(day, 16, 0),
            end=local(day, 16, 30),
            end_with_buffer=local(day, 16, 30),
        )
        new_start = local(day + timedelta(days=1), 0, 5)
        moved.start, moved.end, moved.end_with_buffer = (
            new_start,
            new_start + timedelta(minutes=20),
            new_start + timedelta(minutes=20),
        )
        moved.rescheduled_at = local(day, 8, 0)
        moved.save()
    # Stock: receipts, dispensing at the day edges, an expiry write-off and a return.
    item = ItemFactory()
    lot = receive(item, quantity=500, cost="3.00")
    other = ItemFactory()
    other_lot = receive(other, quantity=100, cost="1.25")
    movements = []
    for d in range(days):
        day = first + timedelta(days=d)
        for hh, mm, qty in [(0, 30, 3), (23, 30, 5), (12, 0, 2)]:
            movements.append(
                StockMovement(
                    lot=lot,
                    item=item,
                    kind=MovementKind.DISPENSE,
                    reason_code=ReasonCode.PATIENT,
                    quantity=Decimal(-qty),
                    unit_cost=Decimal("3.00"),
                    patient=patients[d],
                    created_at=local(day, hh, mm),
                )
            )
        movements.append(
            StockMovement(
                lot=other_lot,
                item=other,
                kind=MovementKind.DISPOSE,
                reason_code=ReasonCode.EXPIRED if d % 2 else ReasonCode.RETURN_TO_VENDOR,
                quantity=Decimal("-4"),
                unit_cost=Decimal("1.25"),
                created_at=local(day, 23, 59),
            )
        )
        movements.append(  # the 23:30 dispensing cancelled at 23:50: 5 come back
            StockMovement(
                lot=lot,
                item=item,
                kind=MovementKind.ADJUST,
                reason_code=ReasonCode.DATA_ENTRY,
                quantity=Decimal("5"),
                unit_cost=Decimal("3.00"),
                patient=patients[d],
                note="Cancels dispensing #0: wrong patient",
                created_at=local(day, 23, 50),
            )
        )
        movements.append(
            StockMovement(
                lot=other_lot,
                item=other,
                kind=MovementKind.ADJUST,
                reason_code=ReasonCode.FOUND,
                quantity=Decimal("1"),
                unit_cost=Decimal("1.25"),
                created_at=local(day, 0, 1),
            )
        )
    StockMovement.objects.bulk_create(movements)
    return {"doctor": doctor, "nurse": nurse, "patients": patients, "items": [item, other]}
