"""Fixes from review: documents linked to visits and long file names, addenda in every
export, odd input on public and visit URLs, PDF escaping, certificate age at issue, and
audit events for reads that had none."""

import base64
import io
import json
import re
from datetime import date, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import AuditEvent
from accounts.roles import Role
from patients.exports import csv, fhir, pdf
from patients.models import Immunization, PatientDocument, Visit, VisitAddendum
from patients.services import documents, visits
from tests.patients.factories import CertificateFactory, PatientFactory, VisitFactory

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _signed_visit(patient, provider, **kwargs) -> Visit:
    now = timezone.now()
    return VisitFactory(
        patient=patient,
        provider=provider,
        status="signed",
        signed_at=now,
        signed_by=provider,
        **kwargs,
    )


# --- Documents -------------------------------------------------------------------------


@pytest.mark.django_db
def test_document_can_be_linked_to_any_of_the_patients_visits(
    patient, other_patient, nurse_user, doctor_user, client_for
):
    oldest = VisitFactory(
        patient=patient, provider=doctor_user, started_at=timezone.now() - timedelta(days=400)
    )
    Visit.objects.bulk_create(
        [
            Visit(
                patient=patient,
                kind="medical",
                provider=doctor_user,
                started_at=timezone.now() - timedelta(days=i),
            )
            for i in range(55)
        ]
    )
    recent = Visit.objects.filter(patient=patient).order_by("-started_at").first()
    theirs = VisitFactory(patient=other_patient, provider=doctor_user)
    c = client_for(nurse_user)
    url = reverse("patients:document_upload", args=[patient.pk])

    page = c.get(url).content.decode()
    select = re.search(r'<select name="visit".*?</select>', page, re.S).group(0)
    assert select.count("<option") == 51  # "---------" and the 50 most recent visits
    assert f'value="{recent.pk}"' in select and f'value="{oldest.pk}"' not in select

    for visit in (recent, oldest):  # older than the 50 offered is still valid
        response = c.post(
            url,
            {
                "kind": "lab",
                "title": "CBC",
                "visit": visit.pk,
                "file": SimpleUploadedFile("cbc.pdf", PDF_BYTES),
            },
        )
        assert response.status_code == 302, response.content[:2000]
        assert PatientDocument.objects.filter(visit=visit, patient=patient).exists()

    response = c.post(
        url,
        {
            "kind": "lab",
            "title": "CBC",
            "visit": theirs.pk,
            "file": SimpleUploadedFile("cbc.pdf", PDF_BYTES),
        },
    )
    assert response.status_code == 422 and b"Select a valid choice" in response.content
    assert not PatientDocument.objects.filter(visit=theirs).exists()


@pytest.mark.django_db
def test_long_file_name_with_blank_title_is_shortened(patient, nurse_user, client_for):
    response = client_for(nurse_user).post(
        reverse("patients:document_upload", args=[patient.pk]),
        {
            "kind": "lab",
            "title": "",
            "file": SimpleUploadedFile("a" * 180 + ".pdf", PDF_BYTES),
        },
    )
    assert response.status_code == 302
    doc = PatientDocument.objects.get()
    assert len(doc.title) == 150
    assert doc.title.startswith("aaaa") and doc.title.endswith("….pdf")
    assert doc.original_name == "a" * 180 + ".pdf"


def test_document_title_rules():
    assert documents._document_title("  CBC  ", "x.pdf") == "CBC"
    assert documents._document_title("", "scan.pdf") == "scan.pdf"
    assert documents._document_title("", "") == "document"
    assert documents._document_title("", "b" * 200) == "b" * 149 + "…"
    assert documents._document_title("t" * 200, "x.pdf") == "t" * 149 + "…"


# --- Exports ---------------------------------------------------------------------------


@pytest.fixture
def corrected_visit(patient, doctor_user):
    visit = VisitFactory(patient=patient, provider=doctor_user, chief_complaint="Fever")
    visits.diagnosis_add(actor=doctor_user, visit=visit, code="J06.9")
    visits.visit_sign(actor=doctor_user, visit=visit)
    visit.refresh_from_db()
    visits.addendum_add(
        actor=doctor_user,
        visit=visit,
        text="Correction: paracetamol 250 mg, not 500 mg.\nSee <lab> & repeat",
    )
    return visit


@pytest.mark.django_db
def test_addenda_are_in_the_pdf_csv_and_fhir_exports(corrected_visit, doctor_user, client_for):
    from fhir.resources.R4B.bundle import Bundle

    c = client_for(doctor_user)
    pid = corrected_visit.patient_id
    text = _pdf_text(c.get(reverse("patients:export", args=[pid, "pdf"])).content)
    assert "Correction: paracetamol 250 mg" in text
    assert "See <lab> & repeat" in text and "&amp;" not in text
    assert "Doc Tor" in text

    csv_body = c.get(reverse("patients:export", args=[pid, "csv"])).content.decode("utf-8-sig")
    assert "addendum" in csv_body and "Correction: paracetamol 250 mg" in csv_body

    data = json.loads(c.get(reverse("patients:export", args=[pid, "fhir"])).content)
    bundle = Bundle.model_validate(data)
    docs = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "DocumentReference"]
    assert len(docs) == 1
    doc = docs[0]
    assert doc.context.encounter[0].reference == f"Encounter/enc-{corrected_visit.pk}"
    assert doc.type.coding[0].code == "55107-7"
    raw = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == doc.id)
    body = base64.b64decode(raw["content"][0]["attachment"]["data"]).decode("utf-8")
    assert body.startswith("Correction: paracetamol 250 mg") and "<lab> & repeat" in body
    assert "&lt;lab&gt; &amp; repeat" in doc.text.div


@pytest.mark.django_db
def test_export_queries_do_not_grow_with_addenda(
    patient, doctor_user, dentist_user, django_assert_max_num_queries
):
    def add_visit(author):
        visit = _signed_visit(patient, doctor_user)
        VisitAddendum.objects.create(visit=visit, author=author, text="note")

    add_visit(doctor_user)

    def export_all():
        pdf.record_pdf(patient)
        csv.record_csv(patient)
        fhir.fhir_bundle(patient)

    with CaptureQueriesContext(connection) as few:
        export_all()
    for i in range(6):
        add_visit(dentist_user if i % 2 else doctor_user)
    with django_assert_max_num_queries(len(few.captured_queries)):
        export_all()
    assert "note" in csv.record_csv(patient).decode("utf-8-sig")


@pytest.mark.django_db
def test_record_pdf_plain_cells_show_real_characters(patient):
    Immunization.objects.create(
        patient=patient, vaccine="Hep <B> & co", given_on=date(2020, 1, 1), lot_number="A&B<1>"
    )
    text = _pdf_text(pdf.record_pdf(patient))
    assert "A&B<1>" in text and "Hep <B> & co" in text
    assert "&amp;" not in text and "&lt;" not in text


@pytest.mark.django_db
def test_certificate_pdf_shows_age_at_issue(patient, doctor_user):
    # born 5 Apr 2003: 16 on 1 Jan 2020, whatever today is
    issued = timezone.make_aware(datetime(2020, 1, 1, 10, 0))
    cert = CertificateFactory(
        patient=patient,
        requested_by=doctor_user,
        status="approved",
        decided_by=doctor_user,
        decided_at=issued,
        fitness="fit",
        valid_from=date(2020, 1, 1),
        valid_until=date(2020, 2, 1),
    )
    text = _pdf_text(pdf.certificate_pdf(cert))
    assert "16 years old" in text
    assert f"{patient.age} years old" not in text


# --- Odd input -------------------------------------------------------------------------


@pytest.mark.django_db
def test_verification_lookup_refuses_malformed_codes(client):
    response = client.get(reverse("patients:verify"), {"code": "AB/CD"})
    assert response.status_code == 200
    assert b"only letters and digits" in response.content
    assert client.get("/patients/verify/AB%00CD/").status_code == 404
    assert client.get("/patients/verify/AB%2FCD/").status_code == 404
    assert client.get("/patients/verify/" + "A" * 17 + "/").status_code == 404
    ok = client.get(reverse("patients:verify"), {"code": " forged123 "})
    assert ok.status_code == 302 and ok["Location"].endswith("/verify/FORGED123/")


@pytest.mark.django_db
@pytest.mark.parametrize("tooth", ["²", "٣٦", "9" * 5000, "-1", "99", ""])
def test_visit_page_ignores_odd_tooth_numbers(dentist_user, dental_visit, client_for, tooth):
    response = client_for(dentist_user).get(
        reverse("patients:visit", args=[dental_visit.pk]), {"tooth": tooth}
    )
    assert response.status_code == 200
    assert response.context["selected_tooth"] is None


@pytest.mark.django_db
def test_visit_page_selects_a_valid_tooth(dentist_user, dental_visit, client_for):
    response = client_for(dentist_user).get(
        reverse("patients:visit", args=[dental_visit.pk]), {"tooth": "36"}
    )
    assert response.context["selected_tooth"] == 36


# --- Audit -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_tooth_panel_read_is_audited(dentist_user, dental_visit, client_for):
    response = client_for(dentist_user).get(
        reverse("patients:visit_tooth", args=[dental_visit.pk, 36]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="read", patient_id=dental_visit.patient_id)
    assert event.actor == dentist_user and event.object_type == "patients.visit"
    assert event.detail == {"view": "tooth", "tooth": 36}


@pytest.mark.django_db
def test_demographics_edit_page_read_is_audited(patient, front_desk_user, client_for):
    c = client_for(front_desk_user)
    assert c.get(reverse("patients:edit", args=[patient.pk])).status_code == 200
    event = AuditEvent.objects.get(action="read", patient_id=patient.pk)
    assert event.actor == front_desk_user and event.detail == {"view": "edit"}


@pytest.mark.django_db
def test_certificate_queue_read_is_audited(patient, other_patient, doctor_user, client_for):
    first = CertificateFactory(patient=patient, requested_by=doctor_user)
    second = CertificateFactory(patient=other_patient, requested_by=doctor_user)
    response = client_for(doctor_user).get(reverse("patients:certificate_queue"))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="read", object_type="patients.medicalcertificate")
    assert event.actor == doctor_user
    assert event.detail["view"] == "certificate_queue"
    assert event.detail["certificates"] == [first.pk, second.pk]
    assert event.detail["patients"] == sorted([patient.pk, other_patient.pk])


@pytest.mark.django_db
def test_link_candidates_and_selected_record_reads_are_audited(
    front_desk_user, make_user, client_for
):
    account = make_user(
        Role.PATIENT, email="maria@usc.edu.ph", first_name="Maria", last_name="Santos"
    )
    record = PatientFactory(
        email="maria@usc.edu.ph", first_name="Maria", last_name="Santos", user=None
    )
    c = client_for(front_desk_user)
    url = reverse("patients:account_link", args=[account.pk])

    assert c.get(url).status_code == 200
    listed = AuditEvent.objects.get(action="read", detail__view="link_candidates")
    assert listed.actor == front_desk_user and listed.detail["patients"] == [record.pk]
    assert listed.detail["account"] == account.pk

    assert c.get(url, {"patient": record.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="link-confirm")
    chosen = AuditEvent.objects.get(action="read", patient_id=record.pk)
    assert chosen.detail == {"view": "account_link", "account": account.pk}

    assert c.get(reverse("patients:portal_accounts")).status_code == 200
    suggested = AuditEvent.objects.get(action="read", detail__view="portal_accounts")
    assert suggested.detail["patients"] == [record.pk]
