"""Factories for appointments (schedules open every day 08:00–17:00 so tests don't depend on
the weekday they run on)."""

from datetime import date, time, timedelta

import factory
from django.utils import timezone

from accounts.roles import Role
from appointments.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    ProviderProfile,
    WeeklyAvailability,
)
from patients.models import Patient
from tests.factories import UserFactory


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    id_number = factory.Sequence(lambda n: f"A{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    sex = "F"
    birth_date = date(2003, 4, 5)
    email = factory.Sequence(lambda n: f"appt.patient{n}@usc.edu.ph")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role=Role.DOCTOR)
    room = "Room 1"

    @factory.post_generation
    def hours(self, create, extracted, **kwargs):
        """``hours=[("08:00", "17:00")]`` (default) for every weekday, Monday to Sunday."""
        if not create or extracted == []:
            return
        for start, end in extracted or [("08:00", "17:00")]:
            for weekday in range(7):
                WeeklyAvailability.objects.create(
                    provider=self,
                    weekday=weekday,
                    start_time=time.fromisoformat(start),
                    end_time=time.fromisoformat(end),
                )


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType

    name = factory.Sequence(lambda n: f"Consultation {n}")
    slug = factory.Sequence(lambda n: f"consultation-{n}")
    duration_minutes = 30
    buffer_minutes = 0
    provider_roles = factory.LazyFunction(lambda: [Role.DOCTOR.value, Role.NURSE.value])
    self_bookable = True
    lead_time_minutes = 60
    horizon_days = 30


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    provider = factory.SubFactory(ProviderFactory)
    appointment_type = factory.SubFactory(AppointmentTypeFactory)
    start = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    end = factory.LazyAttribute(
        lambda o: o.start + timedelta(minutes=o.appointment_type.duration_minutes)
    )
    end_with_buffer = factory.LazyAttribute(
        lambda o: o.end + timedelta(minutes=o.appointment_type.buffer_minutes)
    )
    status = AppointmentStatus.BOOKED
