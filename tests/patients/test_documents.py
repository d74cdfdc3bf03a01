"""Documents: linking to any of the patient's visits, titles from long file names."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from patients.models import PatientDocument, Visit
from patients.services import documents
from tests.patients.factories import VisitFactory

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
