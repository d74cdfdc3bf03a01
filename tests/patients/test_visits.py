"""Visits: vitals plausibility, ICD-10, prescriptions, signing lock, addenda, tooth chart,
visit_start (used by appointments), HTMX fragments."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from patients.models import Diagnosis, Prescription, VisitStatus, VitalSigns
from patients.services import visits
from tests.patients.factories import AllergyFactory


@pytest.mark.django_db
def test_visit_start_is_idempotent_per_appointment(patient, doctor_user, dentist_user):
    v1 = visits.visit_start(
        actor=doctor_user, patient=patient, kind="medical", appointment_ref="APT-1"
    )
    v2 = visits.visit_start(
        actor=doctor_user, patient=patient, kind="medical", appointment_ref="APT-1"
    )
    assert v1.pk == v2.pk and v1.status == VisitStatus.DRAFT
    assert (
        AuditEvent.objects.filter(
            object_type="patients.visit", object_id=str(v1.pk), action="create"
        ).count()
        == 1
    )
    with pytest.raises(PermissionDenied):
        visits.visit_start(actor=dentist_user, patient=patient, kind="medical")
    assert visits.visit_start(actor=dentist_user, patient=patient, kind="dental").kind == "dental"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values,field",
    [
        ({"temperature_c": 90}, "temperature_c"),
        ({"systolic": 300, "diastolic": 20}, "systolic"),
        ({"systolic": 80, "diastolic": 120}, "systolic"),
        ({"spo2": 130}, "spo2"),
        ({"height_cm": 170, "weight_kg": 3}, "weight_kg"),
        ({}, "__all__"),
    ],
)
def test_implausible_vitals_are_refused(values, field, visit, nurse_user):
    with pytest.raises(ValidationError) as exc:
        visits.vitals_record(actor=nurse_user, visit=visit, values=values)
    assert field in exc.value.message_dict
    assert not VitalSigns.objects.exists()


@pytest.mark.django_db
def test_vitals_form_errors_are_422_not_500(visit, nurse_user, client_for):
    response = client_for(nurse_user).post(
        reverse("patients:visit_vitals", args=[visit.pk]),
        {"temperature_c": "90", "systolic": "300", "diastolic": "20"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert b'id="visit-vitals"' in response.content
    assert b"not plausible" in response.content
    assert not VitalSigns.objects.exists()


@pytest.mark.django_db
def test_bmi_is_computed(visit, nurse_user, client_for):
    response = client_for(nurse_user).post(
        reverse("patients:visit_vitals", args=[visit.pk]),
        {
            "temperature_c": "37.2",
            "systolic": "118",
            "diastolic": "76",
            "pulse": "80",
            "height_cm": "160",
            "weight_kg": "64",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'id="visit-vitals"' in response.content and b"<html" not in response.content
    assert str(VitalSigns.objects.get().bmi) == "25.0"


@pytest.mark.django_db
def test_icd10_table_is_the_complete_who_list():
    from patients.models import Icd10Code

    assert Icd10Code.objects.count() > 12000
    assert (
        Icd10Code.objects.get(code="J06.9").title
        == "Acute upper respiratory infection, unspecified"
    )


@pytest.mark.django_db
def test_unknown_icd10_is_a_form_error(visit, doctor_user, client_for):
    response = client_for(doctor_user).post(
        reverse("patients:visit_diagnosis_add", args=[visit.pk]),
        {"code": "ZZ9.99"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert b"is not an ICD-10 code" in response.content
    assert not Diagnosis.objects.exists()


@pytest.mark.django_db
def test_diagnosis_accepts_undotted_code(visit, doctor_user):
    d = visits.diagnosis_add(actor=doctor_user, visit=visit, code="j069")
    assert d.icd10_id == "J06.9" and d.is_primary


@pytest.mark.django_db
def test_icd10_autocomplete_by_words_and_code(doctor_user, client_for):
    c = client_for(doctor_user)
    by_words = c.get(
        reverse("patients:icd10_search"), {"q": "upper respiratory"}, HTTP_HX_REQUEST="true"
    )
    assert b"J06.9" in by_words.content
    by_code = c.get(reverse("patients:icd10_search"), {"q": "J06"}, HTTP_HX_REQUEST="true")
    assert b"J06.0" in by_code.content


@pytest.mark.django_db
def test_prescription_blocked_by_allergy(visit, doctor_user):
    AllergyFactory(patient=visit.patient, substance="Amoxicillin")
    with pytest.raises(ValidationError):
        visits.prescription_add(
            actor=doctor_user,
            visit=visit,
            data={
                "drug_name": "Amoxicillin",
                "dose": "500 mg",
                "route": "oral",
                "frequency": "TID",
                "quantity": 21,
            },
        )
    rx = visits.prescription_add(
        actor=doctor_user,
        visit=visit,
        data={
            "drug_name": "Paracetamol",
            "dose": "500 mg",
            "route": "oral",
            "frequency": "q6h",
            "quantity": 10,
        },
    )
    assert rx.pk and Prescription.objects.count() == 1


@pytest.mark.django_db
def test_signed_visit_is_locked_and_takes_addenda(visit, doctor_user, client_for):
    visits.visit_sign(actor=doctor_user, visit=visit)
    with pytest.raises(ValidationError):
        visits.visit_update_notes(
            actor=doctor_user, visit=visit, data={"chief_complaint": "changed"}
        )
    with pytest.raises(ValidationError):
        visits.visit_sign(actor=doctor_user, visit=visit)
    c = client_for(doctor_user)
    response = c.post(
        reverse("patients:visit_notes", args=[visit.pk]),
        {"chief_complaint": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    response = c.post(
        reverse("patients:visit_addendum", args=[visit.pk]),
        {"text": "BP re-checked: 120/80"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and b'id="visit-addenda"' in response.content
    visit.refresh_from_db()
    assert visit.chief_complaint == "Cough" and visit.addenda.count() == 1


@pytest.mark.django_db
def test_script_in_free_text_renders_escaped(visit, doctor_user, client_for):
    visits.visit_update_notes(
        actor=doctor_user,
        visit=visit,
        data={"chief_complaint": "<script>alert(1)</script>", "assessment": "<b>x</b>"},
    )
    response = client_for(doctor_user).get(reverse("patients:visit", args=[visit.pk]))
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


@pytest.mark.django_db
def test_tooth_chart_click_and_save(dental_visit, dentist_user, client_for):
    c = client_for(dentist_user)
    page = c.get(reverse("patients:visit", args=[dental_visit.pk]))
    assert b'class="tooth-svg"' in page.content
    for n in (11, 18, 48, 51, 85):
        assert f'data-tooth="{n}"'.encode() in page.content
    panel = c.get(
        reverse("patients:visit_tooth", args=[dental_visit.pk, 36]), HTTP_HX_REQUEST="true"
    )
    assert (
        panel.status_code == 200
        and b'id="tooth-chart"' in panel.content
        and b"Tooth 36" in panel.content
    )
    saved = c.post(
        reverse("patients:visit_tooth", args=[dental_visit.pk, 36]),
        {
            "condition": "caries",
            "surfaces": "om",
            "procedure": "filling",
            "procedure_status": "planned",
        },
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200 and b"c-caries" in saved.content
    rec = dental_visit.teeth.get()
    assert (rec.tooth, rec.surfaces, rec.procedure) == (36, "MO", "filling")
    assert c.get(reverse("patients:visit_tooth", args=[dental_visit.pk, 19])).status_code == 404


@pytest.mark.django_db
def test_follow_up_in_the_past_is_refused(visit, doctor_user):
    with pytest.raises(ValidationError):
        visits.visit_update_notes(
            actor=doctor_user,
            visit=visit,
            data={"follow_up_on": timezone.localdate() - timedelta(days=1)},
        )
