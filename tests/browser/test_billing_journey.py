"""Billing journey (issue 12): the doctor signs a visit and the nurse dispenses its
prescription → the billing clerk finds the drafted invoice, applies the employee's HMO
coverage, issues it, takes a partial GCash payment and prints the official receipt →
submits the HMO claim, posts a remittance that partially pays it → the patient signs in and
sees the balance, the receipt and the statement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.roles import Role
from billing.catalogue import catalogue_ensure
from billing.models import Claim, Invoice, Payer, Payment
from billing.services.checks import billing_check
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory
from tests.inventory.factories import ItemFactory, LocationFactory, PatientFactory, receive

pytestmark = pytest.mark.django_db(transaction=True)


def test_visit_to_invoice_to_claim_to_patient(page, new_page, live_server):
    from patients.models import Prescription, Visit

    catalogue_ensure()
    doctor = UserFactory(role=Role.DOCTOR, email="jose@usc.edu.ph")
    nurse = UserFactory(role=Role.NURSE, email="liza@usc.edu.ph")
    clerk = UserFactory(role=Role.BILLING_CLERK, email="paolo@usc.edu.ph", first_name="Paolo")
    emma_user = UserFactory(role=Role.PATIENT, email="emma@usc.edu.ph", first_name="Emma")
    emma = PatientFactory(
        first_name="Emma",
        last_name="Lopez",
        id_number="E-2020-17",
        patient_type="employee",
        user=emma_user,
        email="emma@usc.edu.ph",
    )
    item = ItemFactory(
        name="Amoxicillin",
        strength="500 mg",
        form="Capsule",
        unit="capsule",
        default_location=LocationFactory(name="Pharmacy", code="pharmacy"),
    )
    receive(item, quantity=100, cost="4.00")
    visit = Visit.objects.create(
        patient=emma,
        kind="medical",
        provider=doctor,
        chief_complaint="Sore throat",
        assessment="Acute pharyngitis",
    )
    Prescription.objects.create(
        visit=visit,
        drug_name="Amoxicillin",
        dose="500 mg",
        frequency="every 8 hours",
        duration="5 days",
        quantity=15,
    )

    # 1. The doctor signs the visit; the nurse dispenses its prescription.
    doc = new_page()
    browser_login(doc, live_server, doctor.email, TEST_PASSWORD)
    doc.goto(f"{live_server.url}/patients/visits/{visit.pk}/")
    doc.click("main button:has-text('Sign and lock')")
    doc.wait_for_selector("#visit-status:has-text('Signed')")
    nurse_page = new_page()
    browser_login(nurse_page, live_server, nurse.email, TEST_PASSWORD)
    nurse_page.goto(f"{live_server.url}/patients/visits/{visit.pk}/")
    nurse_page.click("#visit-prescriptions a:has-text('Dispense')")
    nurse_page.wait_for_selector("#dispense-prescription")
    nurse_page.click("main button:has-text('Dispense')")
    nurse_page.wait_for_selector("text=Dispensed 15 capsule")

    # 2. The clerk finds the drafted invoice on the billing home: consultation + medicine.
    browser_login(page, live_server, clerk.email, TEST_PASSWORD)
    page.goto(f"{live_server.url}/billing/")
    page.click("main a:has-text('Emma')")
    page.wait_for_selector("h1:has-text('Draft invoice')")
    assert "walk-in" in page.inner_text("#invoice-lines")
    assert "Amoxicillin" in page.inner_text("#invoice-lines")
    invoice = Invoice.objects.get(patient=emma)
    assert invoice.net_total == Decimal("144.00")  # 75 (employee) + 15 × 4.60

    # 3. She records Emma's Maxicare coverage and applies it to the draft, then issues it.
    page.click("main a:has-text('Add coverage')")
    maxicare = Payer.objects.get(code="maxicare")
    page.select_option("#id_payer", str(maxicare.pk))
    page.fill("#id_member_id", "MX-7781-02")
    page.fill("#id_valid_from", "2026-01-01")
    page.fill("#id_percent", "80")
    page.fill("#id_loa_number", "LOA-55120")
    page.fill("#id_loa_issued_on", timezone.localdate().isoformat())
    page.click("main button:has-text('Save coverage')")
    page.wait_for_selector("text=MX-7781-02")
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.select_option(
        "#id_coverage", label=page.locator("#id_coverage option").nth(1).inner_text()
    )
    page.click("main button:has-text('Apply payer and discount')")
    page.wait_for_selector("dd:has-text('Maxicare')")
    page.click("main button:has-text('Issue invoice')")
    page.wait_for_selector("h1:has-text('Invoice INV-')")
    invoice.refresh_from_db()
    assert (invoice.payer_total, invoice.patient_total) == (Decimal("115.20"), Decimal("28.80"))

    # 4. Cashier day, a partial GCash payment, the official receipt.
    page.goto(f"{live_server.url}/billing/cashier/")
    page.fill("#id_opening_float", "500")
    page.click("main button:has-text('Open cashier day')")
    page.wait_for_selector("text=Close the day")
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.click("main a:has-text('Take payment')")
    page.fill("#id_amount", "20")
    page.select_option("#id_method", "gcash")
    page.fill("#id_reference", "GC-88120031")
    page.click("main button:has-text('Record payment')")
    page.wait_for_selector("h1:has-text('Official receipt OR-')")
    payment = Payment.objects.get()
    pdf = page.request.get(f"{live_server.url}/billing/payments/{payment.pk}/receipt.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    invoice.refresh_from_db()
    assert invoice.status == "partially_paid" and invoice.balance == Decimal("8.80")

    # 5. The HMO claim is submitted; a remittance pays part of it.
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.click("main button:has-text('Create payer claim')")
    page.wait_for_selector("h1:has-text('Claim CLM-')")
    page.select_option("#id_to_status", "submitted")
    page.click("main button:has-text('Save')")
    page.wait_for_selector("h1 .badge:has-text('Submitted')")
    claim = Claim.objects.get()
    page.goto(f"{live_server.url}/billing/claims/remittance/?payer={maxicare.pk}")
    page.fill("#id_reference", "MAXI-RMT-2291")
    page.fill("#id_amount", "100")
    page.fill(f"input[name=paid_{claim.pk}]", "100")
    page.click("main button:has-text('Post remittance')")
    page.wait_for_selector("text=Remittance posted")
    claim.refresh_from_db()
    assert claim.status == "partially_paid" and claim.outstanding == Decimal("15.20")

    # 6. Emma signs in: her balance, the receipt and the statement.
    me = new_page(width=390, height=844)
    browser_login(me, live_server, emma_user.email, TEST_PASSWORD)
    me.goto(f"{live_server.url}/billing/my/")
    body = me.inner_text("main")
    assert "₱8.80" in body and payment.receipt_number in body and invoice.number in body
    assert "Partially paid" in body  # the claim's status on her coverage
    receipt = me.request.get(f"{live_server.url}/billing/my/receipts/{payment.pk}.pdf")
    statement = me.request.get(f"{live_server.url}/billing/my/statement.pdf")
    assert receipt.ok and statement.ok and statement.body().startswith(b"%PDF")
    for tab in (page, me, doc, nurse_page):
        assert not tab.console_errors, tab.console_errors
    assert not any(billing_check().values())
