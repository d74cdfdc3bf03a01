"""Medical certificates: the PDF and the public verification page."""

from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.exports import pdf
from tests.patients.factories import CertificateFactory
from tests.pdftext import pdf_text


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
    text = pdf_text(pdf.certificate_pdf(cert))
    assert "16 years old" in text
    assert f"{patient.age} years old" not in text


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
