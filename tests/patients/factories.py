"""Factories for patient records."""

from datetime import date

import factory
from django.utils import timezone

from patients.models import Allergy, MedicalCertificate, Patient, Visit


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    id_number = factory.Sequence(lambda n: f"T{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    sex = "F"
    birth_date = date(2003, 4, 5)
    email = factory.Sequence(lambda n: f"patient{n}@usc.edu.ph")
    patient_type = "student"
    college = "School of Engineering"
    year_level = 2

    @factory.post_generation
    def _search(self, create, extracted, **kwargs):
        self.refresh_search_text()
        if create:
            self.save(update_fields=["search_text"])


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    kind = "medical"
    provider = None
    chief_complaint = "Cough"
    started_at = factory.LazyFunction(timezone.now)


class AllergyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Allergy

    patient = factory.SubFactory(PatientFactory)
    substance = "Penicillin"
    reaction = "Hives"
    severity = "severe"


class CertificateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicalCertificate

    patient = factory.SubFactory(PatientFactory)
    requested_by = None
    purpose = "PE class clearance"
    status = "pending"
    verification_code = factory.Sequence(lambda n: f"TESTCODE{n:04d}")
