"""Permission matrix for every patients view: each role allowed or 403, anonymous to login,
someone else's object 404."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from patients.models import CertificateStatus, MedicalCertificate
from tests.patients.factories import CertificateFactory

ALL = set(Role.values)
CLINICAL = {Role.DOCTOR, Role.DENTIST, Role.NURSE}
DEMOGRAPHICS = CLINICAL | {Role.ADMIN, Role.FRONT_DESK, Role.BILLING_CLERK}

# (url name, kwargs-builder key, allowed roles)
GET_VIEWS = [
    ("patients:list", None, DEMOGRAPHICS),
    ("patients:register", None, CLINICAL | {Role.FRONT_DESK}),
    ("patients:chart", "patient", DEMOGRAPHICS),
    ("patients:edit", "patient", CLINICAL | {Role.FRONT_DESK}),
    ("patients:chart_tab:timeline", "patient", CLINICAL),
    ("patients:visit", "visit", CLINICAL),
    ("patients:icd10_search", None, CLINICAL),
    ("patients:document_upload", "patient", CLINICAL),
    ("patients:certificate_queue", None, {Role.DOCTOR}),
    ("patients:certificate_decide", "certificate", {Role.DOCTOR}),
    ("patients:export:pdf", "patient", {Role.DOCTOR, Role.DENTIST}),
    ("patients:portal", None, {Role.PATIENT}),
    ("patients:portal_profile", None, {Role.PATIENT}),
    ("patients:portal_visits", None, {Role.PATIENT}),
    ("patients:portal_certificates", None, {Role.PATIENT}),
    ("patients:portal_documents", None, {Role.PATIENT}),
    ("patients:portal_access_log", None, {Role.PATIENT}),
    ("patients:portal_export:csv", None, {Role.PATIENT}),
]


def _url(name, key, objs):
    parts = name.split(":")
    extra = parts[2] if len(parts) == 3 else None
    url_name = ":".join(parts[:2])
    kwargs = {}
    if key:
        kwargs["pk"] = objs[key].pk
    if extra and url_name.endswith("chart_tab"):
        kwargs["tab"] = extra
    elif extra:
        kwargs["fmt"] = extra
    return reverse(url_name, kwargs=kwargs)


@pytest.fixture
def objs(patient, visit, doctor_user):
    cert = CertificateFactory(patient=patient, requested_by=doctor_user)
    return {"patient": patient, "visit": visit, "certificate": cert}


@pytest.mark.django_db
@pytest.mark.parametrize("name,key,allowed", GET_VIEWS, ids=[v[0] for v in GET_VIEWS])
def test_get_matrix(name, key, allowed, objs, user_for_role, client_for, client):
    url = _url(name, key, objs)
    anon = client.get(url)
    assert anon.status_code == 302 and "/login/" in anon["Location"]
    for role in Role.values:
        response = client_for(user_for_role(role)).get(url)
        if role in allowed:
            assert response.status_code == 200, (role, url, response.status_code)
        else:
            assert response.status_code == 403, (role, url, response.status_code)


POST_VIEWS = [
    ("patients:allergy_add", "patient", {"substance": "Latex", "severity": "mild"}, CLINICAL),
    ("patients:medication_add", "patient", {"name": "Metformin"}, CLINICAL),
    ("patients:history_add", "patient", {"category": "chronic", "description": "Asthma"}, CLINICAL),
    (
        "patients:immunization_add",
        "patient",
        {"vaccine": "Flu", "dose_number": 1, "given_on": "2024-01-02"},
        CLINICAL,
    ),
    ("patients:visit_new", "patient", {"kind": "medical"}, {Role.DOCTOR, Role.NURSE}),
    ("patients:visit_vitals", "visit", {"temperature_c": "37.1"}, {Role.DOCTOR, Role.NURSE}),
    ("patients:visit_sign", "visit", {}, {Role.DOCTOR}),
    ("patients:certificate_new", "patient", {"purpose": "OJT"}, CLINICAL),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,key,data,allowed", POST_VIEWS, ids=[v[0] for v in POST_VIEWS])
def test_post_matrix(name, key, data, allowed, objs, user_for_role, client_for, client):
    url = reverse(name, kwargs={"pk": objs[key].pk})
    anon = client.post(url, data)
    assert anon.status_code == 302 and "/login/" in anon["Location"]
    for role in Role.values:
        payload = {**data, **({"substance": f"Latex {role}"} if "substance" in data else {})}
        if name == "patients:certificate_new":  # at most three pending requests per patient
            MedicalCertificate.objects.filter(status=CertificateStatus.PENDING).delete()
        response = client_for(user_for_role(role)).post(url, payload)
        if role in allowed:
            assert response.status_code == 302, (role, url, response.status_code)
            wrote = AuditEvent.objects.filter(
                actor__role=role, action__in=["create", "update"], allowed=True
            )
            assert wrote.exists(), (role, url)
        else:
            assert response.status_code == 403, (role, url, response.status_code)


@pytest.mark.django_db
def test_front_desk_sees_demographics_only(objs, front_desk_user, client_for):
    c = client_for(front_desk_user)
    response = c.get(reverse("patients:chart", args=[objs["patient"].pk]))
    assert response.status_code == 200
    assert b"Demographics" in response.content
    assert b"allergy-banner" not in response.content
    assert (
        c.get(reverse("patients:chart_tab", args=[objs["patient"].pk, "medications"])).status_code
        == 403
    )


@pytest.mark.django_db
def test_dentist_cannot_write_medical_visit(objs, dentist_user, client_for):
    response = client_for(dentist_user).post(
        reverse("patients:visit_vitals", args=[objs["visit"].pk]), {"temperature_c": "37"}
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_portal_other_patients_objects_are_404(
    objs, other_patient, patient_user, other_patient_user, client_for, doctor_user
):
    from patients.services import visits

    visits.visit_sign(actor=doctor_user, visit=objs["visit"])
    mine = client_for(patient_user)
    assert mine.get(reverse("patients:portal_visit", args=[objs["visit"].pk])).status_code == 200
    theirs = client_for(other_patient_user)
    assert theirs.get(reverse("patients:portal_visit", args=[objs["visit"].pk])).status_code == 404
    cert = objs["certificate"]
    cert.status = CertificateStatus.APPROVED
    assert theirs.get(reverse("patients:portal_certificate_pdf", args=[cert.pk])).status_code == 404
    assert theirs.get(reverse("patients:portal_visit", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_portal_hides_draft_visits(objs, patient_user, client_for):
    response = client_for(patient_user).get(
        reverse("patients:portal_visit", args=[objs["visit"].pk])
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_unknown_patient_is_404_for_staff(doctor_user, client_for):
    assert client_for(doctor_user).get(reverse("patients:chart", args=[987654])).status_code == 404


@pytest.mark.django_db
def test_verification_page_is_public(client):
    assert client.get(reverse("patients:verify_certificate", args=["NOPE"])).status_code == 200
    assert client.get(reverse("patients:signup")).status_code == 200
