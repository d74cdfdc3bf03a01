"""Record exports (PDF, CSV, FHIR): addenda everywhere, fixed query counts, real characters."""

import base64
import json
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.exports import csv, fhir, pdf
from patients.models import Immunization, Visit, VisitAddendum
from patients.services import visits
from tests.patients.factories import VisitFactory
from tests.pdftext import pdf_text


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
    text = pdf_text(c.get(reverse("patients:export", args=[pid, "pdf"])).content)
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
    text = pdf_text(pdf.record_pdf(patient))
    assert "A&B<1>" in text and "Hep <B> & co" in text
    assert "&amp;" not in text and "&lt;" not in text
