import pytest

from tests.patients.factories import PatientFactory, VisitFactory


@pytest.fixture
def patient(patient_user):
    """The patient persona's own record."""
    return PatientFactory(
        user=patient_user, first_name="Pat", last_name="Student", id_number="20230001"
    )


@pytest.fixture
def other_patient(other_patient_user):
    return PatientFactory(
        user=other_patient_user, first_name="Otto", last_name="Other", id_number="20230002"
    )


@pytest.fixture
def visit(patient, doctor_user):
    return VisitFactory(patient=patient, provider=doctor_user)


@pytest.fixture
def dental_visit(patient, dentist_user):
    return VisitFactory(
        patient=patient, provider=dentist_user, kind="dental", chief_complaint="Toothache"
    )


@pytest.fixture(scope="module", autouse=True)
def _icd10_committed(django_db_setup, django_db_blocker):
    """The ICD-10 list comes from a data migration, but transactional tests (anywhere in the
    suite) flush every table afterwards; reload it, committed, before each module."""
    from patients.icd10 import icd10_load
    from patients.models import Icd10Code

    with django_db_blocker.unblock():
        if not Icd10Code.objects.exists():
            icd10_load()
