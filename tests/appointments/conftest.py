from datetime import datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts.roles import Role
from appointments import conf
from tests.appointments.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory


def local(day, hhmm: str) -> datetime:
    """An aware datetime at clinic wall-clock ``hhmm`` on ``day``."""
    return datetime.combine(day, time.fromisoformat(hhmm)).replace(tzinfo=conf.clinic_tz())


@pytest.fixture
def clinic(db, doctor_user, dentist_user, patient_user, other_patient_user):
    """A doctor and a dentist working 08:00–17:00 every day, a consultation (30 min + 10 min
    buffer) and a dental cleaning, and two patients with portal accounts."""
    doctor = ProviderFactory(user=doctor_user, room="Room 101")
    dentist = ProviderFactory(user=dentist_user, room="Dental 2")
    consult = AppointmentTypeFactory(
        name="Consultation", slug="consultation", duration_minutes=30, buffer_minutes=10
    )
    cleaning = AppointmentTypeFactory(
        name="Dental cleaning",
        slug="dental-cleaning",
        duration_minutes=45,
        provider_roles=[Role.DENTIST.value],
        visit_kind="dental",
    )
    patient = PatientFactory(user=patient_user, first_name="Pat", last_name="Student")
    other = PatientFactory(user=other_patient_user, first_name="Otto", last_name="Other")
    tomorrow = timezone.localdate() + timedelta(days=1)
    return SimpleNamespace(
        doctor=doctor,
        dentist=dentist,
        consult=consult,
        cleaning=cleaning,
        patient=patient,
        other=other,
        day=tomorrow,
        at=lambda hhmm, day=tomorrow: local(day, hhmm),
    )
