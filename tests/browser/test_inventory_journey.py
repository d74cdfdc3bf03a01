"""Inventory journey (issue 5): the manager receives a purchase order, a nurse dispenses to a
patient during a visit, stock falls below the reorder point, the low-stock email arrives,
and the manager drafts and sends the reorder."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from inventory.alerts import alerts_run
from inventory.models import POStatus, PurchaseOrder, StockMovement
from inventory.services import purchasing
from tests.browser.conftest import browser_login
from tests.factories import TEST_PASSWORD, UserFactory
from tests.inventory.factories import ItemFactory, LocationFactory, PatientFactory, VendorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_receive_dispense_alert_reorder(page, new_page, live_server):
    from patients.models import Prescription, Visit

    manager = UserFactory(role=Role.INVENTORY_MANAGER, email="rhea@usc.edu.ph", first_name="Rhea")
    nurse = UserFactory(role=Role.NURSE, email="liza@usc.edu.ph")
    doctor = UserFactory(role=Role.DOCTOR, email="jose@usc.edu.ph")
    vendor = VendorFactory(name="Cebu Pharma Distributors", email="orders@cebupharma.example.ph")
    pharmacy = LocationFactory(name="Pharmacy", code="pharmacy")
    item = ItemFactory(
        name="Amoxicillin",
        strength="500 mg",
        form="Capsule",
        unit="capsule",
        reorder_point=20,
        reorder_quantity=100,
        preferred_vendor=vendor,
        default_location=pharmacy,
    )
    patient = PatientFactory(first_name="Bea", last_name="Ramos", id_number="2026-00042")
    visit = Visit.objects.create(
        patient=patient, kind="medical", provider=doctor, chief_complaint="Sore throat"
    )
    order = purchasing.purchase_order_create(actor=manager, vendor=vendor)
    line = purchasing.purchase_order_add_line(
        actor=manager, order=order, item=item, quantity=30, unit_cost="2.40"
    )
    purchasing.purchase_order_send(actor=manager, order=order)
    mail.outbox.clear()

    # 1. The manager receives the order: a lot with batch and expiry, status received.
    browser_login(page, live_server, manager.email, TEST_PASSWORD)
    page.goto(f"{live_server.url}/inventory/orders/{order.pk}/")
    page.click("main a:has-text('Receive goods')")
    page.fill(f"input[name=qty_{line.pk}]", "30")
    page.fill(f"input[name=batch_{line.pk}]", "AMX-2611")
    page.fill(
        f"input[name=expiry_{line.pk}]", (timezone.localdate() + timedelta(days=400)).isoformat()
    )
    page.click("main button:has-text('Receive')")
    page.wait_for_selector("text=Goods received")
    assert "Received" in page.locator("main h1").inner_text()

    # 2. The doctor prescribed it; a nurse opens the visit and dispenses that prescription:
    #    the form comes filled in from it (item, 15 capsules, patient, visit, 7-day course).
    rx = Prescription.objects.create(
        visit=visit,
        drug_name="Amoxicillin",
        dose="500 mg",
        frequency="every 8 hours",
        duration="7 days",
        quantity=15,
    )
    nurse_page = new_page()
    browser_login(nurse_page, live_server, nurse.email, TEST_PASSWORD)
    nurse_page.goto(f"{live_server.url}/patients/visits/{visit.pk}/")
    nurse_page.click("#visit-prescriptions a:has-text('Dispense')")
    nurse_page.wait_for_selector("#dispense-prescription")
    assert nurse_page.input_value("input[name=quantity]") == "15"
    assert nurse_page.input_value("input[name=course_days]") == "7"
    nurse_page.click("main button:has-text('Dispense')")
    nurse_page.wait_for_selector("text=Dispensed 15 capsule")
    assert nurse_page.url.endswith(f"/patients/visits/{visit.pk}/")  # back to the visit
    nurse_page.goto(f"{live_server.url}/inventory/items/{item.pk}/")
    assert nurse_page.locator("#on-hand").inner_text().strip() == "15"
    movement = StockMovement.objects.get(kind="dispense")
    assert (
        movement.patient_id,
        movement.visit_id,
        movement.actor_id,
        movement.prescription_id,
    ) == (
        patient.pk,
        visit.pk,
        nurse.pk,
        rx.pk,
    )
    assert not nurse_page.console_errors, nurse_page.console_errors

    # 3. 15 usable <= reorder point 20: the beat job (run in-process) emails the manager once.
    run = alerts_run()
    assert [e.item_id for e in run.opened] == [item.pk]
    low = [m for m in mail.outbox if "Low stock" in m.subject]
    assert len(low) == 1 and low[0].to == [manager.email] and "Amoxicillin" in low[0].body

    # 4. The manager drafts the order in one click and sends it; the PDF goes to the vendor.
    page.goto(f"{live_server.url}/inventory/low-stock/")
    page.click("main button:has-text('Draft order')")
    page.wait_for_selector("main h1:has-text('Draft')")
    draft = PurchaseOrder.objects.get(status=POStatus.DRAFT)
    assert draft.lines.get().quantity_ordered == Decimal("100")
    page.click("main button:has-text('Send to vendor')")
    page.wait_for_selector(f"text={draft.number} sent to {vendor.email}")
    to_vendor = [m for m in mail.outbox if m.to == [vendor.email]]
    assert len(to_vendor) == 1 and to_vendor[0].attachments[0][0] == f"{draft.number}.pdf"
    assert not page.console_errors, page.console_errors
