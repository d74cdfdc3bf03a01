"""Patient records journey: nurse registers a patient and records vitals → doctor records
the visit with an ICD-10 diagnosis and a prescription, signs it, approves a certificate →
the patient signs in, sees the visit, downloads the certificate PDF → the public
verification page confirms it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from accounts.roles import Role
from patients.icd10 import icd10_load
from patients.models import MedicalCertificate, Patient, Visit
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_nurse_doctor_patient_certificate_journey(new_page, live_server):
    icd10_load()  # transactional tests start from flushed tables
    nurse = UserFactory(role=Role.NURSE, email="nurse.j@usc.edu.ph")
    doctor = UserFactory(
        role=Role.DOCTOR, email="doctor.j@usc.edu.ph", first_name="Jose", last_name="Rizal"
    )
    student = UserFactory(
        role=Role.PATIENT, email="ana.j@usc.edu.ph", first_name="Ana", last_name="Lim"
    )

    # 1. Nurse registers the patient and records vitals in a new medical visit.
    page = new_page()
    browser_login(page, live_server, nurse.email, TEST_PASSWORD)
    page.goto(f"{live_server.url}/patients/register/")
    page.fill("#id_id_number", "22001234")
    page.fill("#id_first_name", "Ana")
    page.fill("#id_last_name", "Lim")
    page.select_option("#id_sex", "F")
    page.fill("#id_birth_date", "2004-06-15")
    page.fill("#id_email", student.email)
    page.click("main button:has-text('Register')")
    page.wait_for_selector("#chart-tab")
    patient = Patient.objects.get(id_number="22001234")
    Patient.objects.filter(pk=patient.pk).update(
        user=student
    )  # the account is linked by the clinic
    page.click("main button:has-text('New medical visit')")
    page.wait_for_selector("#visit-vitals form")
    page.fill("#visit-vitals [name=temperature_c]", "38.2")
    page.fill("#visit-vitals [name=systolic]", "118")
    page.fill("#visit-vitals [name=diastolic]", "76")
    page.fill("#visit-vitals [name=pulse]", "92")
    page.fill("#visit-vitals [name=height_cm]", "158")
    page.fill("#visit-vitals [name=weight_kg]", "52")
    page.click("#visit-vitals button:has-text('Record vitals')")
    page.wait_for_selector("#visit-vitals td:has-text('20.8')")  # BMI computed
    visit = Visit.objects.get(patient=patient)

    # 2. Doctor writes the consultation with an ICD-10 diagnosis (autocomplete) and a prescription, signs it.
    doc = new_page()
    browser_login(doc, live_server, doctor.email, TEST_PASSWORD)
    doc.goto(f"{live_server.url}/patients/visits/{visit.pk}/")
    doc.fill("#visit-notes [name=chief_complaint]", "Sore throat and fever for 2 days")
    doc.fill("#visit-notes [name=assessment]", "Acute pharyngitis")
    doc.click("#visit-notes button:has-text('Save notes')")
    doc.wait_for_selector("#visit-notes .badge:has-text('Saved')")
    doc.fill("#id_code", "pharyngitis")
    doc.wait_for_selector(".icd-option[data-code='J02.9']")
    doc.click(".icd-option[data-code='J02.9']")
    assert doc.input_value("#id_code") == "J02.9"
    doc.click("#visit-diagnoses button:has-text('Add diagnosis')")
    doc.wait_for_selector("#visit-diagnoses .badge:has-text('J02.9')")
    doc.fill("#visit-prescriptions [name=drug_name]", "Paracetamol")
    doc.fill("#visit-prescriptions [name=dose]", "500 mg")
    doc.fill("#visit-prescriptions [name=frequency]", "every 6 hours")
    doc.fill("#visit-prescriptions [name=duration]", "3 days")
    doc.fill("#visit-prescriptions [name=quantity]", "12")
    doc.click("#visit-prescriptions button:has-text('Add prescription')")
    doc.wait_for_selector("#visit-prescriptions li:has-text('Paracetamol')")
    doc.click("main button:has-text('Sign and lock')")
    doc.wait_for_selector("#visit-status:has-text('Signed')")

    # 3. The patient requests a certificate; the doctor approves it.
    me = new_page()
    browser_login(me, live_server, student.email, TEST_PASSWORD)
    me.goto(f"{live_server.url}/patients/my/certificates/")
    me.fill("[name=purpose]", "PE class clearance")
    me.click("main button:has-text('Send request')")
    me.wait_for_selector("#certificate-list :text('Pending approval')")
    doc.goto(f"{live_server.url}/patients/certificates/")
    doc.click("main a:has-text('Review')")
    doc.check("input[name=decision][value=approve]")
    doc.select_option("#id_fitness", "fit")
    doc.fill("#id_findings", "Recovering from pharyngitis; fit for light activity.")
    doc.click("main button:has-text('Save decision')")
    doc.wait_for_selector("#certificate-table")
    cert = MedicalCertificate.objects.get(patient=patient)
    assert cert.status == "approved"

    # 4. The patient sees the visit and downloads the certificate PDF.
    me.goto(f"{live_server.url}/patients/my/visits/")
    assert "Sore throat and fever" in me.locator("#portal-visits").inner_text()
    me.click("#portal-visits a >> nth=0")
    me.wait_for_selector("text=J02.9")
    me.goto(f"{live_server.url}/patients/my/certificates/")
    with me.expect_download() as download_info:
        me.click("#certificate-list a:has-text('Download PDF')")
    pdf_path = download_info.value.path()
    text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(Path(pdf_path).read_bytes())).pages
    )
    assert "MEDICAL CERTIFICATE" in text and cert.verification_code in text

    # 5. Anyone can verify the certificate by its code.
    anon = new_page()
    anon.goto(f"{live_server.url}/patients/verify/")
    anon.fill("[name=code]", cert.verification_code)
    anon.click("button:has-text('Verify')")
    result = anon.locator("#verification-result").inner_text()
    assert "Authentic and currently valid" in result
    assert "pharyngitis" not in anon.content()
    for tab in (page, doc, me, anon):
        assert not tab.console_errors, tab.console_errors
