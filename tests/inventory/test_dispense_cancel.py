"""Cancelling a dispensing from the item's ledger: who may, what it asks for, and that the
stock comes back and billing reverses the charge."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from billing.catalogue import catalogue_ensure
from billing.models import Charge, ChargeStatus
from inventory.models import MovementKind, StockMovement
from inventory.services import dispensing
from tests.inventory.factories import ItemFactory, PatientFactory, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispensed(nurse_user):
    catalogue_ensure()
    item = ItemFactory(name="Cetirizine")
    lot = receive(item, quantity=20, cost="3.00")
    patient = PatientFactory()
    result = dispensing.stock_dispense(actor=nurse_user, item=item, quantity=6, patient=patient)
    return result.movements[0], lot


def test_nurse_cancels_a_dispensing_from_the_ledger_and_the_charge_is_reversed(
    dispensed, nurse_user, client_for
):
    movement, lot = dispensed
    charge = Charge.objects.get(source_key=f"dispense:{movement.pk}")
    client = client_for(nurse_user)
    url = reverse("inventory:dispense_cancel", args=[movement.pk])
    ledger = client.get(reverse("inventory:item_detail", args=[movement.item_id]))
    assert url in ledger.content.decode()  # the button is on the ledger row
    page = client.get(url)
    assert page.status_code == 200
    assert b'hx-disabled-elt="this"' in page.content and b'name="reason"' in page.content
    # A reason is required: a form error, nothing changes.
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 422
    lot.refresh_from_db()
    assert lot.quantity == 14
    response = client.post(url, {"reason": "Dispensed to the wrong patient"})
    assert response.status_code == 302
    lot.refresh_from_db()
    charge.refresh_from_db()
    assert lot.quantity == 20
    assert charge.status == ChargeStatus.REVERSED
    correction = StockMovement.objects.get(kind=MovementKind.ADJUST, lot=lot)
    assert correction.quantity == 6 and "wrong patient" in correction.note
    assert AuditEvent.objects.filter(
        object_type="inventory.stockmovement", object_id=str(correction.pk), action="create"
    ).exists()
    ledger = client.get(reverse("inventory:item_detail", args=[movement.item_id]))
    assert url not in ledger.content.decode() and "Cancelled" in ledger.content.decode()
    # Cancelled once: a second post is a form error, the stock is not returned twice.
    again = client.post(url, {"reason": "again"})
    assert again.status_code == 422 and b"already cancelled" in again.content
    lot.refresh_from_db()
    assert lot.quantity == 20


def test_cancel_needs_the_dispense_permission(dispensed, front_desk_user, billing_user, client_for):
    movement, lot = dispensed
    url = reverse("inventory:dispense_cancel", args=[movement.pk])
    for user in (front_desk_user, billing_user):
        client = client_for(user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "no"}).status_code == 403
    lot.refresh_from_db()
    assert lot.quantity == 14


def test_cancel_of_anything_but_a_patient_dispensing_is_404(dispensed, inventory_user, client_for):
    movement, lot = dispensed
    client = client_for(inventory_user)
    receipt = StockMovement.objects.get(lot=lot, kind=MovementKind.RECEIVE)
    for pk in (receipt.pk, 999999):
        url = reverse("inventory:dispense_cancel", args=[pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "x"}).status_code == 404


def test_anonymous_is_sent_to_sign_in(dispensed, client):
    movement, lot = dispensed
    url = reverse("inventory:dispense_cancel", args=[movement.pk])
    response = client.post(url, {"reason": "x"})
    assert response.status_code == 302 and "login" in response["Location"]
    lot.refresh_from_db()
    assert lot.quantity == 14


def test_marker_of_one_dispensing_does_not_block_another(dispensed, nurse_user):
    """#12's cancellation must not be mistaken for #1's (the marker ends with a colon)."""
    movement, lot = dispensed
    assert (
        dispensing.cancel_marker(1)
        != dispensing.cancel_marker(12)[: len(dispensing.cancel_marker(1))]
    )
