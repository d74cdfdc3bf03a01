"""Inventory screens: permission matrix, HTMX fragments, bad input, query-count pins."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from inventory.models import (
    ADJUST_REASONS,
    Equipment,
    Item,
    MaintenanceKind,
    MaintenanceSchedule,
    PurchaseOrder,
    StockLot,
    StockMovement,
)
from inventory.services import dispensing, purchasing, stocktake
from inventory.services import stock as stock_services
from tests.inventory.factories import (
    ItemFactory,
    LocationFactory,
    PatientFactory,
    VendorFactory,
    count_sheet,
    receive,
)

pytestmark = pytest.mark.django_db

MANAGER, NURSE, PATIENT, DESK, ADMIN = (
    Role.INVENTORY_MANAGER,
    Role.NURSE,
    Role.PATIENT,
    Role.FRONT_DESK,
    Role.ADMIN,
)


@pytest.fixture
def world(inventory_user):
    item = ItemFactory(name="Paracetamol", reorder_point=50)
    lot = receive(item, quantity=20)
    receive(
        item, quantity=3, days=20, batch="SOON", location=LocationFactory(name="ER cart", code="er")
    )
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=item.preferred_vendor)
    purchasing.purchase_order_add_line(actor=inventory_user, order=order, item=item, quantity=10)
    eq = Equipment.objects.create(name="BP monitor", asset_tag="EQ-9", location=LocationFactory())
    MaintenanceSchedule.objects.create(
        equipment=eq,
        kind=MaintenanceKind.CALIBRATION,
        interval_value=12,
        next_due_on=timezone.localdate() + timedelta(days=3),
    )
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    return {"item": item, "lot": lot, "order": order, "eq": eq, "st": st}


# (url name, kwargs from world, roles allowed)
PAGES = [
    ("inventory:stock", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:stock_export", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:ledger_export", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:item_detail", {"pk": "item"}, {MANAGER, NURSE, ADMIN}),
    ("inventory:item_ledger_export", {"pk": "item"}, {MANAGER, NURSE, ADMIN}),
    ("inventory:item_edit", {"pk": "item"}, {MANAGER}),
    ("inventory:item_new", {}, {MANAGER}),
    ("inventory:item_receive", {"pk": "item"}, {MANAGER}),
    ("inventory:lot_action", {"pk": "lot", "action": "adjust"}, {MANAGER}),
    ("inventory:dispense", {}, {MANAGER, NURSE}),
    ("inventory:expiry", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:low_stock", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:orders", {}, {MANAGER}),
    ("inventory:order_new", {}, {MANAGER}),
    ("inventory:order_detail", {"pk": "order"}, {MANAGER}),
    ("inventory:order_pdf", {"pk": "order"}, {MANAGER}),
    ("inventory:vendors", {}, {MANAGER}),
    ("inventory:vendor_new", {}, {MANAGER}),
    ("inventory:equipment", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:equipment_detail", {"pk": "eq"}, {MANAGER, NURSE, ADMIN}),
    ("inventory:equipment_new", {}, {MANAGER}),
    ("inventory:equipment_calendar", {}, {MANAGER, NURSE, ADMIN}),
    ("inventory:stocktakes", {}, {MANAGER}),
    ("inventory:stocktake_detail", {"pk": "st"}, {MANAGER}),
]


def _url(world, name, kwargs):
    query = kwargs.pop("days", None) if "days" in kwargs else None
    url = reverse(name, kwargs={k: (world[v].pk if v in world else v) for k, v in kwargs.items()})
    return f"{url}?days={query}" if query else url


@pytest.mark.parametrize("role", [MANAGER, NURSE, PATIENT, DESK, ADMIN])
def test_permission_matrix(world, client_for, user_for_role, role):
    client = client_for(user_for_role(role))
    for name, kwargs, allowed in PAGES:
        response = client.get(_url(world, name, kwargs))
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (name, role, response.status_code)


def test_anonymous_is_sent_to_login(world, client):
    for name, kwargs, _ in PAGES:
        response = client.get(_url(world, name, kwargs))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


def test_missing_objects_are_404(client_for, inventory_user):
    client = client_for(inventory_user)
    for name in (
        "inventory:item_detail",
        "inventory:order_detail",
        "inventory:equipment_detail",
        "inventory:stocktake_detail",
    ):
        assert client.get(reverse(name, args=[999999])).status_code == 404


def test_htmx_requests_get_fragments(world, client_for, inventory_user):
    client = client_for(inventory_user)
    for name, kwargs, fragment in [
        ("inventory:stock", {}, 'id="stock-table"'),
        ("inventory:item_detail", {"pk": "item"}, 'id="ledger"'),
        ("inventory:low_stock", {}, 'id="low-stock-table"'),
        ("inventory:expiry", {"days": "30"}, 'id="expiring-lots"'),
        ("inventory:orders", {}, 'id="order-table"'),
    ]:
        response = client.get(_url(world, name, kwargs), HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert (
            response.status_code == 200
            and body.lstrip().startswith(f"<div {fragment}")
            and "<html" not in body
        ), name


def test_expiry_cockpit_shows_value_at_risk(world, client_for, admin_user):
    body = client_for(admin_user).get(reverse("inventory:expiry")).content.decode()
    assert (
        "SOON" in body and 'id="risk-chart"' in body and "₱7.50" in body
    )  # 3 x ₱2.50 within 30 days


def test_stock_search_and_filters(world, client_for, nurse_user):
    ItemFactory(name="Cetirizine", generic_name="cetirizine")
    client = client_for(nurse_user)
    body = client.get(reverse("inventory:stock"), {"q": "CETIRI"}).content.decode()
    assert "Cetirizine" in body and "Paracetamol" not in body
    body = client.get(reverse("inventory:stock"), {"status": "low"}).content.decode()
    assert "Paracetamol" in body


def test_nurse_dispenses_to_patient_and_bad_input_changes_nothing(world, client_for, nurse_user):
    patient = PatientFactory(id_number="2026-0001")
    client = client_for(nurse_user)
    url = reverse("inventory:dispense")
    base = {"item": world["item"].pk, "recipient": "patient", "patient_id_number": "2026-0001"}
    for bad in (
        {"quantity": "-2"},
        {"quantity": "1.5"},
        {"quantity": "30"},
        {"quantity": "2", "patient_id_number": "nope"},
    ):
        response = client.post(url, {**base, **bad})
        assert response.status_code == 422, bad
        assert 'class="errorlist' in response.content.decode()
    assert StockLot.objects.get(pk=world["lot"].pk).quantity == 20
    response = client.post(url, {**base, "quantity": "2"})
    assert response.status_code == 302
    movement = StockMovement.objects.get(kind="dispense")
    assert movement.patient_id == patient.pk and movement.actor_id == nurse_user.pk
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(patient_id=patient.pk, action="create").exists()


def test_dispense_during_a_visit_links_the_visit(world, client_for, nurse_user, doctor_user):
    from patients.models import Visit

    patient = PatientFactory()
    visit = Visit.objects.create(patient=patient, kind="medical", provider=doctor_user)
    client = client_for(nurse_user)
    response = client.post(
        reverse("inventory:dispense"),
        {"item": world["item"].pk, "recipient": "patient", "visit": visit.pk, "quantity": "1"},
    )
    assert response.status_code == 302
    movement = StockMovement.objects.get(kind="dispense")
    assert movement.visit_id == visit.pk and movement.patient_id == patient.pk


def test_order_lines_htmx_and_send(
    world, client_for, inventory_user, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(inventory_user)
    order = world["order"]
    response = client.post(
        reverse("inventory:order_add_line", args=[order.pk]),
        {"item": world["item"].pk, "quantity": "-1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422 and 'id="order-lines"' in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("inventory:order_action", args=[order.pk, "send"]))
    assert response.status_code == 302
    assert PurchaseOrder.objects.get(pk=order.pk).status == "sent" and len(mailoutbox) == 1


def test_receive_over_order_needs_confirmation(world, client_for, inventory_user):
    order = world["order"]
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    line = order.lines.get()
    client = client_for(inventory_user)
    url = reverse("inventory:order_receive", args=[order.pk])
    expiry = (timezone.localdate() + timedelta(days=300)).isoformat()
    data = {
        "location": world["item"].default_location_id,
        f"qty_{line.pk}": "12",
        f"batch_{line.pk}": "NEWB",
        f"expiry_{line.pk}": expiry,
        f"cost_{line.pk}": "2.00",
    }
    response = client.post(url, data)
    assert response.status_code == 422 and "exceed" in response.content.decode()
    assert not StockLot.objects.filter(batch_number="NEWB").exists()
    assert client.post(url, {**data, "confirm_over": "on"}).status_code == 302
    assert StockLot.objects.get(batch_number="NEWB").quantity == 12


def test_stocktake_page_posts_variances(world, client_for, inventory_user):
    st = world["st"]
    line = st.lines.get()
    client = client_for(inventory_user)
    url = reverse("inventory:stocktake_detail", args=[st.pk])
    assert (
        client.post(url, {**count_sheet(st, {line: ("18", "")}), "post": "1"}).status_code == 422
    )  # no reason
    assert (
        client.post(url, {**count_sheet(st, {line: ("18", "lost")}), "post": "1"}).status_code
        == 302
    )
    assert StockLot.objects.get(pk=world["lot"].pk).quantity == 18


def test_stock_overview_queries_do_not_grow_with_rows(
    client_for, nurse_user, django_assert_max_num_queries
):
    client = client_for(nurse_user)
    for _ in range(3):
        receive(ItemFactory(), quantity=5)
    with django_assert_max_num_queries(12) as small:
        client.get(reverse("inventory:stock"))
    for _ in range(20):
        receive(ItemFactory(), quantity=5)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(reverse("inventory:stock")).status_code == 200


def test_item_ledger_queries_do_not_grow_with_rows(
    client_for, inventory_user, django_assert_max_num_queries
):
    client = client_for(inventory_user)
    item = ItemFactory()
    receive(item, quantity=500)
    patient = PatientFactory()
    dispensing.stock_dispense(actor=inventory_user, item=item, quantity=1, patient=patient)
    url = reverse("inventory:item_detail", args=[item.pk])
    with django_assert_max_num_queries(14) as small:
        client.get(url)
    for n in range(30):
        dispensing.stock_dispense(
            actor=inventory_user, item=item, quantity=1, destination=f"Room {n}"
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


def test_low_stock_one_click_draft(world, client_for, inventory_user):
    client = client_for(inventory_user)
    item = ItemFactory(reorder_point=30, reorder_quantity=60, preferred_vendor=VendorFactory())
    response = client.post(reverse("inventory:draft_order"), {"item": item.pk})
    order = PurchaseOrder.objects.get(vendor=item.preferred_vendor)
    assert response.status_code == 302 and response["Location"] == reverse(
        "inventory:order_detail", args=[order.pk]
    )
    assert order.lines.get().quantity_ordered == 60


def test_csv_exports(world, client_for, nurse_user):
    client = client_for(nurse_user)
    body = b"".join(client.get(reverse("inventory:stock_export")).streaming_content).decode()
    assert body.splitlines()[0].startswith("code,name") and "Paracetamol" in body
    body = b"".join(
        client.get(
            reverse("inventory:item_ledger_export", args=[world["item"].pk])
        ).streaming_content
    ).decode()
    assert len(body.splitlines()) == 3 and body.count("receive") == 2


def test_csv_exports_defuse_spreadsheet_formulas(world, client_for, inventory_user):
    item = world["item"]
    Item.objects.filter(pk=item.pk).update(name='=HYPERLINK("http://evil","x")')
    stock_services.stock_adjust(
        actor=inventory_user,
        lot=world["lot"],
        quantity_change=-1,
        reason_code=ADJUST_REASONS[0],
        note="=1+2",
    )
    client = client_for(inventory_user)
    stock = b"".join(client.get(reverse("inventory:stock_export")).streaming_content).decode()
    assert "'=HYPERLINK" in stock and ',"=HYPERLINK' not in stock
    for url in (
        reverse("inventory:item_ledger_export", args=[item.pk]),
        reverse("inventory:ledger_export"),
    ):
        rows = list(csv.reader(io.StringIO(b"".join(client.get(url).streaming_content).decode())))
        adjust = next(r for r in rows if r[-1].endswith("=1+2"))
        assert adjust[-1] == "'=1+2"
        assert adjust[6] == "-1.000"  # a negative quantity stays a number


def test_calendar_and_equipment_pages_render(world, client_for, inventory_user):
    client = client_for(inventory_user)
    body = client.get(reverse("inventory:equipment_calendar")).content.decode()
    assert "BP monitor" in body
    assert (
        client.get(
            reverse("inventory:equipment_calendar"), {"year": "x", "month": "13"}
        ).status_code
        == 200
    )
    response = client.post(
        reverse("inventory:equipment_log", args=[world["eq"].pk]),
        {
            "kind": "calibration",
            "performed_on": timezone.localdate().isoformat(),
            "result": "passed",
            "work_done": "ok",
        },
    )
    assert response.status_code == 302
