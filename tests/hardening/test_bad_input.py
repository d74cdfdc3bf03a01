"""Bad input answers a form error or a 4xx, never a 500 (issue #11, "Bad input")."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import login

pytestmark = pytest.mark.django_db

FAR = ["9999-12-31", "0001-01-01", "2026-02-30", "x" * 50]


@pytest.mark.parametrize("value", FAR)
@pytest.mark.parametrize(
    "name", ["appointments:calendar", "appointments:queue", "appointments:history"]
)
def test_staff_pages_clamp_far_dates(client, clinic, doctor_user, name, value):
    login(client, doctor_user)
    for extra in ("", "&view=week", f"&view=week&provider={clinic.doctor.pk}"):
        response = client.get(
            reverse(name) + f"?date={value}&date_from={value}&date_to={value}{extra}"
        )
        assert response.status_code < 500


@pytest.mark.parametrize("value", FAR)
def test_patient_booking_and_history_clamp_far_dates(client, clinic, patient_user, value):
    login(client, patient_user)
    for url in (reverse("appointments:book"), reverse("appointments:my_list")):
        response = client.get(
            url
            + f"?date={value}&type={clinic.consult.pk}&provider={clinic.doctor.pk}&date_from={value}"
        )
        assert response.status_code < 500


def test_a_far_date_in_a_form_is_a_form_error(client, clinic, doctor_user):
    from appointments.forms import SlotPickerForm

    form = SlotPickerForm({"date": "9999-12-31", "type": clinic.consult.pk})
    assert not form.is_valid()
    assert "between" in str(form.errors["date"])


@pytest.mark.parametrize("token", ["abc%00def", "%00", "a b", "..%2f..%2fetc"])
def test_calendar_feed_tokens_outside_their_alphabet_are_404(client, token):
    assert client.get(f"/appointments/feeds/{token}.ics").status_code == 404
    assert client.get(f"/appointments/link/{token}/").status_code == 404
    assert client.get(f"/patients/signup/verify/{token}/").status_code == 404


@pytest.mark.parametrize("value", ["abc", "1e309", "\x00", "-5", "١٢", "9" * 40])
def test_schedule_page_hidden_ids_that_are_not_numbers(client, clinic, admin_user, value):
    login(client, admin_user)
    url = reverse("appointments:schedule_edit", args=[clinic.doctor.pk])
    for form in ("delete_block", "delete_exception"):
        response = client.post(url, {"form": form, "id": value})
        assert response.status_code == 302


@pytest.mark.parametrize("value", ["1e309", "-1e309", "1E+400", "9" * 60, "sNaN", "Infinity"])
def test_huge_and_exponent_quantities_are_form_errors(client, inventory_user, value):
    from django.core.exceptions import ValidationError

    from inventory.quantities import clean_quantity
    from tests.inventory.factories import ItemFactory, LocationFactory

    item = ItemFactory()
    with pytest.raises(ValidationError):
        clean_quantity(item, value)
    login(client, inventory_user)
    response = client.post(
        reverse("inventory:item_receive", args=[item.pk]),
        {
            "location": LocationFactory().pk,
            "batch_number": "B1",
            "quantity": value,
            "unit_cost": "1.00",
            "reason_code": "purchase",
        },
    )
    assert 400 <= response.status_code < 500 or response.status_code == 200
    assert not item.lots.exists()


@pytest.mark.parametrize("value", ["abc", "1e309", "\x00", "9" * 40])
def test_low_stock_draft_with_a_bad_item_id(client, inventory_user, value):
    login(client, inventory_user)
    response = client.post(reverse("inventory:draft_order"), {"item": value})
    assert response.status_code in (302, 404)


@pytest.mark.parametrize(
    "year,month", [("9999", "12"), ("1", "1"), ("99999", "1"), ("2026", "13"), ("x", "y")]
)
def test_equipment_calendar_clamps_far_months(client, inventory_user, year, month):
    login(client, inventory_user)
    response = client.get(reverse("inventory:equipment_calendar"), {"year": year, "month": month})
    assert response.status_code == 200


def test_billing_statement_with_far_dates_is_not_a_500(client, patient_user):
    from tests.patients.factories import PatientFactory

    PatientFactory(user=patient_user)
    login(client, patient_user)
    for value in ("9999-12-31", "0001-01-01"):
        response = client.get("/billing/my/statement.pdf", {"date_from": value, "date_to": value})
        assert response.status_code < 500
