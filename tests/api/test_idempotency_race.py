"""Real threads against PostgreSQL: concurrent retries of one booking or one dispense with
the same Idempotency-Key book or dispense once, and every retry gets the first result."""

from __future__ import annotations

import pytest

from appointments.models import Appointment
from inventory.models import StockMovement
from tests.appointments.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_retries_of_a_booking_book_once(world, api_client, front_desk_user):
    start = world.at("15:00")
    body = {
        "patient": world.other.pk,
        "appointment_type": world.consult.pk,
        "provider": world.doctor.pk,
        "start": start.isoformat(),
    }
    clients = [api_client(front_desk_user) for _ in range(6)]

    def attempt(client):
        return lambda: client.post(
            "/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me"
        )

    responses = race([attempt(c) for c in clients])
    assert all(r.status_code == 201 for r in responses), [
        getattr(r, "status_code", r) for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Appointment.objects.filter(start=start).count() == 1


def test_concurrent_retries_of_a_dispense_dispense_once(world, api_client, nurse_user):
    url = f"/api/v1/inventory/items/{world.item.pk}/dispense/"
    client_list = [api_client(nurse_user) for _ in range(5)]

    def attempt(client):
        return lambda: client.post(
            url,
            {"quantity": "7", "destination": "ER"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="disp-race",
        )

    responses = race([attempt(c) for c in client_list])
    assert all(r.status_code == 201 for r in responses), [
        getattr(r, "status_code", r) for r in responses
    ]
    assert StockMovement.objects.filter(item=world.item, kind="dispense").count() == 1
    world.item.refresh_from_db()
    assert world.item.stock_on_hand == 93
