"""Dispensing a visit's prescription: the "Dispense" action on the visit page, the form filled
in from the prescription, and the movement linked back to it."""

from decimal import Decimal

import pytest
from django.urls import reverse

from inventory import selectors
from inventory.models import StockMovement
from patients.models import Prescription
from tests.inventory.factories import ItemFactory, receive
from tests.patients.factories import PatientFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rx(doctor_user):
    visit = VisitFactory(
        patient=PatientFactory(first_name="Lea", last_name="Ramos"), provider=doctor_user
    )
    return Prescription.objects.create(
        visit=visit,
        drug_name="Amoxicillin",
        dose="500 mg",
        frequency="3x a day",
        duration="7 days",
        quantity=21,
    )


@pytest.fixture
def amoxicillin():
    ItemFactory(
        name="Amoxicillin 250 mg/5 mL suspension",
        generic_name="amoxicillin",
        strength="250 mg/5 mL",
    )
    item = ItemFactory(
        name="Amoxicillin 500 mg capsule",
        generic_name="amoxicillin",
        strength="500 mg",
        unit="capsule",
    )
    receive(item, quantity=100)
    return item


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("7 days", 7),
        ("1 week", 7),
        ("2 weeks", 14),
        ("5d", 5),
        ("10 Days.", 10),
        ("", None),
        ("until better", None),
        ("3 months", None),
        ("3x a day", None),
        ("every 8 hours for 5 days", 5),
    ],
)
def test_course_length_is_read_from_the_duration(text, days):
    assert selectors.course_days(text) == days


def test_course_length_falls_back_to_the_frequency_text():
    assert selectors.course_days("", "every 8 hours for 7 days") == 7
    assert selectors.course_days("10 days", "for 7 days") == 10


def test_the_item_with_the_prescribed_strength_is_chosen(amoxicillin):
    assert selectors.item_for_prescription("Amoxicillin", "500 mg") == amoxicillin
    assert selectors.item_for_prescription("Nonexistentol", "5 mg") is None


def test_nurse_dispenses_a_prescription_from_the_visit_page(
    rx, amoxicillin, client_for, nurse_user
):
    client = client_for(nurse_user)
    visit_page = client.get(reverse("patients:visit", args=[rx.visit_id])).content.decode()
    url = f"{reverse('inventory:dispense')}?prescription={rx.pk}"
    assert f'href="{url}"' in visit_page.replace("&amp;", "&")

    form = client.get(url).context["form"]
    assert form.initial["item"] == amoxicillin.pk and form.initial["quantity"] == 21
    assert form.initial["patient_id_number"] == rx.visit.patient.id_number
    assert form.initial["visit"] == rx.visit_id and form.initial["course_days"] == 7

    response = client.post(
        url,
        {
            "item": amoxicillin.pk,
            "quantity": "21",
            "recipient": "patient",
            "patient_id_number": rx.visit.patient.id_number,
            "visit": rx.visit_id,
            "prescription": rx.pk,
            "course_days": "7",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "patients:visit", args=[rx.visit_id]
    )
    movement = StockMovement.objects.get(prescription=rx)
    assert movement.quantity == Decimal("-21") and movement.visit_id == rx.visit_id
    assert movement.patient_id == rx.visit.patient_id


def test_the_dispense_action_needs_the_dispense_permission(rx, front_desk_user, doctor_user):
    from uscpis.registry import prescription_links

    assert prescription_links(front_desk_user, rx) == []
    assert [link.label for link in prescription_links(doctor_user, rx)] == ["Dispense"]


def test_someone_elses_or_unknown_prescription_prefills_nothing(
    rx, client_for, nurse_user, patient_user
):
    client = client_for(nurse_user)
    for value in ("999999", "abc"):
        response = client.get(f"{reverse('inventory:dispense')}?prescription={value}")
        assert (
            response.status_code == 200 and "prescription" not in response.context["form"].initial
        )
    # A forged prescription number on submit is a form error, not a 500.
    response = client.post(
        reverse("inventory:dispense"),
        {
            "item": ItemFactory().pk,
            "quantity": "1",
            "recipient": "patient",
            "patient_id_number": rx.visit.patient.id_number,
            "prescription": "999999",
        },
    )
    assert response.status_code == 422
    assert "No such prescription." in response.context["form"].errors["prescription"]


def test_a_drug_named_as_the_items_display_name_picks_that_item():
    ItemFactory(name="Paracetamol", generic_name="paracetamol", strength="250 mg", form="Syrup")
    tablet = ItemFactory(
        name="Paracetamol", generic_name="paracetamol", strength="500 mg", form="Tablet"
    )
    assert tablet.display_name == "Paracetamol 500 mg tablet"
    tablet.refresh_from_db()
    assert selectors.item_for_prescription("Paracetamol 500 mg tablet", "") == tablet
    assert selectors.item_for_prescription("paracetamol  500 MG Tablet", "1 tablet") == tablet
