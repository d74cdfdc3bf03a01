"""Inventory's home-dashboard badges count low stock live (as the low-stock page does) and
expiring lots."""

import pytest
from django.urls import reverse

from inventory.alerts import alerts_run
from inventory.services import dispensing
from tests.inventory.factories import ItemFactory, receive

pytestmark = pytest.mark.django_db


def _cards(client):
    return {c.title: c for c in client.get(reverse("accounts:home")).context["cards"]}


def test_badges_show_low_stock_and_lots_expiring_within_30_days(
    client_for, inventory_user, nurse_user
):
    low = ItemFactory(reorder_point=10, name="Amoxicillin")
    receive(low, quantity=12, days=400)
    dispensing.stock_dispense(actor=None, item=low, quantity=5, destination="Clinic")  # 7 <= 10
    fine = ItemFactory(reorder_point=5, name="Gauze")
    receive(fine, quantity=50, days=10, batch="SOON")  # expires in 10 days
    receive(fine, quantity=50, days=60, batch="LATER")  # not within 30 days
    client = client_for(inventory_user)
    # Counted live: right before the morning alert job has run, and the same after it.
    assert _cards(client)["Low stock"].value == 1
    alerts_run()
    cards = _cards(client)
    assert cards["Low stock"].value == 1 and cards["Low stock"].tone == "bad"
    assert cards["Expiring in 30 days"].value == 1 and cards["Expiring in 30 days"].tone == "warn"
    assert cards["Low stock"].url == reverse("inventory:low_stock")
    # Nurses see the stock badges too (they dispense); other roles don't.
    assert "Low stock" in _cards(client_for(nurse_user))


def test_no_badges_for_roles_without_stock(client_for, front_desk_user):
    assert "Low stock" not in _cards(client_for(front_desk_user))
