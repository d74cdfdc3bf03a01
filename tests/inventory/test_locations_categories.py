"""Locations and categories screens: permissions, create/edit, unique names ignoring case,
retiring a location, escaping, and query-count pins on the lists."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from inventory import forms
from inventory.models import Category, Equipment, Location, StockLot
from inventory.services import catalogue, stock, stocktake
from tests.inventory.factories import ItemFactory, LocationFactory, receive

pytestmark = pytest.mark.django_db

MANAGER, NURSE, PATIENT, DESK, ADMIN = (
    Role.INVENTORY_MANAGER,
    Role.NURSE,
    Role.PATIENT,
    Role.FRONT_DESK,
    Role.ADMIN,
)
VIEWERS = {MANAGER, NURSE, ADMIN}  # inventory.view_stock


@pytest.fixture
def world():
    location = LocationFactory(name="Pharmacy", code="pharmacy")
    category = Category.objects.create(name="Analgesics")
    return {"location": location, "category": category}


# (url name, object key or None, roles allowed)
PAGES = [
    ("inventory:locations", None, VIEWERS),
    ("inventory:location_new", None, {MANAGER}),
    ("inventory:location_edit", "location", {MANAGER}),
    ("inventory:categories", None, VIEWERS),
    ("inventory:category_new", None, {MANAGER}),
    ("inventory:category_edit", "category", {MANAGER}),
]


def _url(world, name, key):
    return reverse(name, args=[world[key].pk]) if key else reverse(name)


@pytest.mark.parametrize("role", [MANAGER, NURSE, PATIENT, DESK, ADMIN])
def test_permission_matrix(world, client_for, user_for_role, role):
    client = client_for(user_for_role(role))
    for name, key, allowed in PAGES:
        response = client.get(_url(world, name, key))
        assert response.status_code == (200 if role in allowed else 403), (name, role)


def test_posting_needs_manage_stock(world, client_for, nurse_user):
    client = client_for(nurse_user)
    assert client.post(reverse("inventory:category_new"), {"name": "X"}).status_code == 403
    assert (
        client.post(
            reverse("inventory:location_edit", args=[world["location"].pk]),
            {"name": "Renamed", "code": "pharmacy", "is_active": "on"},
        ).status_code
        == 403
    )
    assert not Category.objects.filter(name="X").exists()
    assert Location.objects.get(pk=world["location"].pk).name == "Pharmacy"


def test_anonymous_is_sent_to_login(world, client):
    for name, key, _ in PAGES:
        response = client.get(_url(world, name, key))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


def test_missing_objects_are_404(client_for, inventory_user):
    client = client_for(inventory_user)
    for name in ("inventory:location_edit", "inventory:category_edit"):
        assert client.get(reverse(name, args=[999999])).status_code == 404


def test_viewers_see_lists_without_edit_buttons(world, client_for, nurse_user, inventory_user):
    edit_url = reverse("inventory:location_edit", args=[world["location"].pk])
    body = client_for(nurse_user).get(reverse("inventory:locations")).content.decode()
    assert "Pharmacy" in body and "New location" not in body and edit_url not in body
    body = client_for(inventory_user).get(reverse("inventory:locations")).content.decode()
    assert "New location" in body and edit_url in body


def test_htmx_pagination_gets_fragments(world, client_for, inventory_user):
    client = client_for(inventory_user)
    for name, fragment in [
        ("inventory:locations", 'id="location-table"'),
        ("inventory:categories", 'id="category-table"'),
    ]:
        body = client.get(reverse(name), HTTP_HX_REQUEST="true").content.decode()
        assert body.lstrip().startswith(f"<div {fragment}") and "<html" not in body, name


def test_nav_links_for_managers_only(world, client_for, inventory_user, nurse_user):
    body = client_for(inventory_user).get(reverse("inventory:stock")).content.decode()
    assert f'href="{reverse("inventory:locations")}"' in body
    assert f'href="{reverse("inventory:categories")}"' in body
    body = client_for(nurse_user).get(reverse("inventory:stock")).content.decode()
    assert f'href="{reverse("inventory:locations")}"' not in body


# --- Locations --------------------------------------------------------------------------------


def test_create_location_with_code_from_name(client_for, inventory_user):
    response = client_for(inventory_user).post(
        reverse("inventory:location_new"),
        {"name": "Sports Clinic", "code": "", "description": "Gym annex", "is_active": "on"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("inventory:locations")
    location = Location.objects.get(name="Sports Clinic")
    assert location.code == "sports-clinic" and location.is_active
    event = AuditEvent.objects.filter(object_type="inventory.location").latest("id")
    assert event.action == "create" and event.object_id == str(location.pk)
    assert event.actor_id == inventory_user.pk


def test_edit_location(world, client_for, inventory_user):
    location = world["location"]
    response = client_for(inventory_user).post(
        reverse("inventory:location_edit", args=[location.pk]),
        {"name": "Main pharmacy", "code": "PHARMACY", "description": "Counter", "is_active": "on"},
    )
    assert response.status_code == 302
    location.refresh_from_db()
    assert (location.name, location.code, location.description) == (
        "Main pharmacy",
        "pharmacy",
        "Counter",
    )
    assert AuditEvent.objects.filter(
        object_type="inventory.location", object_id=str(location.pk), action="update"
    ).exists()


def test_duplicate_location_name_is_a_form_error(world, client_for, inventory_user):
    client = client_for(inventory_user)
    response = client.post(
        reverse("inventory:location_new"), {"name": "PHARMACY ", "code": "ph2", "is_active": "on"}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["name"] == ["A location with this name already exists."]
    assert Location.objects.count() == 1
    # Renaming another location onto it is refused the same way; keeping its own name is fine.
    other = LocationFactory(name="Store room", code="store")
    url = reverse("inventory:location_edit", args=[other.pk])
    response = client.post(url, {"name": "pharmacy", "code": "store", "is_active": "on"})
    assert response.status_code == 422 and "name" in response.context["form"].errors
    response = client.post(url, {"name": "Store Room", "code": "store", "is_active": "on"})
    assert response.status_code == 302


def test_duplicate_location_code_is_a_form_error(world, client_for, inventory_user):
    response = client_for(inventory_user).post(
        reverse("inventory:location_new"),
        {"name": "Pharmacy annex", "code": "pharmacy", "is_active": "on"},
    )
    assert response.status_code == 422 and "code" in response.context["form"].errors


def test_database_refuses_names_differing_only_in_case(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.create(name="pharmacy", code="other")
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="ANALGESICS")


def test_service_turns_a_lost_race_into_a_field_error(world, inventory_user):
    # The form's check passed, then someone else took the name: the constraint decides.

    with pytest.raises(ValidationError) as exc:
        catalogue.location_save(actor=inventory_user, location=Location(name="PHARMACY", code="p2"))
    assert exc.value.message_dict == {"name": ["A location with this name already exists."]}
    with pytest.raises(ValidationError) as exc:
        catalogue.location_save(
            actor=inventory_user, location=Location(name="Elsewhere", code="pharmacy")
        )
    assert exc.value.message_dict == {"code": ["A location with this code already exists."]}
    with pytest.raises(ValidationError) as exc:
        catalogue.category_save(actor=inventory_user, category=Category(name="analgesics"))
    assert exc.value.message_dict == {"name": ["A category with this name already exists."]}


def test_retiring_a_location_with_stock_is_refused(world, client_for, inventory_user):
    location = world["location"]
    item = ItemFactory(default_location=location)
    lot = receive(item, quantity=5)
    url = reverse("inventory:location_edit", args=[location.pk])
    client = client_for(inventory_user)
    response = client.post(url, {"name": "Pharmacy", "code": "pharmacy"})  # "In use" unticked
    assert response.status_code == 422
    error = response.context["form"].errors["is_active"][0]
    assert "still holds stock in 1 lot" in error and "transfer or dispose" in error
    assert Location.objects.get(pk=location.pk).is_active

    # Once the lot is empty the location can be retired, and it is offered nowhere after.
    stock.stock_adjust(
        actor=inventory_user, lot=lot, quantity_change=-5, reason_code="count_correction"
    )
    assert client.post(url, {"name": "Pharmacy", "code": "pharmacy"}).status_code == 302
    location.refresh_from_db()
    assert not location.is_active
    for form_class in (forms.ReceiveForm, forms.TransferForm, forms.StocktakeStartForm):
        form = form_class()
        field = form.fields.get("location") or form.fields["to_location"]
        assert location not in field.queryset, form_class
    assert location not in forms.OrderReceiveForm().fields["location"].queryset
    assert location not in forms.EquipmentForm().fields["location"].queryset
    assert location not in forms.ItemForm().fields["default_location"].queryset
    # ...except where a record already sits there, so editing it still validates.
    assert location in forms.ItemForm(instance=item).fields["default_location"].queryset
    body = client.get(reverse("inventory:locations")).content.decode()
    assert "retired" in body


def test_retiring_a_location_with_an_open_count_is_refused(world, client_for, inventory_user):
    location = world["location"]
    stocktake.stocktake_start(actor=inventory_user, location=location)
    response = client_for(inventory_user).post(
        reverse("inventory:location_edit", args=[location.pk]),
        {"name": "Pharmacy", "code": "pharmacy"},
    )
    assert response.status_code == 422
    assert "count is open" in response.context["form"].errors["is_active"][0]


def test_location_list_counts_stock_lots_and_equipment(world, client_for, nurse_user):
    location = world["location"]
    item = ItemFactory(default_location=location)
    receive(item, quantity=5, batch="A")
    receive(item, quantity=7, batch="B")
    receive(ItemFactory(default_location=location), quantity=1, batch="C")
    Equipment.objects.create(name="BP monitor", asset_tag="EQ-1", location=location)
    page = client_for(nurse_user).get(reverse("inventory:locations")).context["page"]
    row = next(r for r in page if r.pk == location.pk)
    assert (row.lots_with_stock, row.equipment_count) == (3, 1)


# --- Categories -------------------------------------------------------------------------------


def test_create_and_rename_category(world, client_for, inventory_user):
    client = client_for(inventory_user)
    response = client.post(reverse("inventory:category_new"), {"name": "Antibiotics"})
    assert response.status_code == 302 and response["Location"] == reverse("inventory:categories")
    category = Category.objects.get(name="Antibiotics")
    url = reverse("inventory:category_edit", args=[category.pk])
    assert client.post(url, {"name": "Antibacterials"}).status_code == 302
    category.refresh_from_db()
    assert category.name == "Antibacterials"
    actions = list(
        AuditEvent.objects.filter(object_type="inventory.category", object_id=str(category.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update"]


def test_duplicate_category_name_is_a_form_error(world, client_for, inventory_user):
    client = client_for(inventory_user)
    response = client.post(reverse("inventory:category_new"), {"name": "analgesics"})
    assert response.status_code == 422
    assert response.context["form"].errors["name"] == ["A category with this name already exists."]
    response = client.post(reverse("inventory:category_new"), {"name": ""})
    assert response.status_code == 422 and "name" in response.context["form"].errors
    assert Category.objects.count() == 1


def test_category_list_counts_active_items(world, client_for, nurse_user):
    ItemFactory(category=world["category"])
    ItemFactory(category=world["category"])
    ItemFactory(category=world["category"], is_active=False)
    page = client_for(nurse_user).get(reverse("inventory:categories")).context["page"]
    assert [(c.name, c.item_count) for c in page] == [("Analgesics", 2)]


# --- Escaping and query counts ----------------------------------------------------------------


def test_names_are_escaped(client_for, inventory_user):
    evil = '<script>alert("x")</script>'
    location = LocationFactory(name=evil, code="evil", description=evil)
    category = Category.objects.create(name=evil)
    client = client_for(inventory_user)
    for url in (
        reverse("inventory:locations"),
        reverse("inventory:categories"),
        reverse("inventory:location_edit", args=[location.pk]),
        reverse("inventory:category_edit", args=[category.pk]),
    ):
        body = client.get(url).content.decode()
        assert evil not in body and "&lt;script&gt;" in body, url


@pytest.mark.parametrize(
    ("url_name", "grow"),
    [
        ("inventory:locations", "locations"),
        ("inventory:categories", "categories"),
    ],
)
def test_list_queries_do_not_grow_with_rows(
    client_for, inventory_user, django_assert_max_num_queries, url_name, grow
):
    client = client_for(inventory_user)

    def add(n):
        for _ in range(n):
            if grow == "locations":
                location = LocationFactory()
                receive(ItemFactory(default_location=location), quantity=3)
                Equipment.objects.create(
                    name="Scale", asset_tag=f"EQ-{location.pk}", location=location
                )
            else:
                category = Category.objects.create(name=f"Category {Category.objects.count()}")
                ItemFactory(category=category)

    add(2)
    with django_assert_max_num_queries(10) as small:
        assert client.get(reverse(url_name)).status_code == 200
    add(20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(reverse(url_name)).status_code == 200


def test_stock_cannot_be_received_or_moved_into_a_retired_location(world, inventory_user):
    retired = LocationFactory(name="Old store room", code="old-store", is_active=False)
    item = ItemFactory(default_location=world["location"])
    with pytest.raises(ValidationError) as refused:
        receive(item, quantity=5, location=retired)
    assert "retired" in refused.value.message_dict["location"][0]
    lot = receive(item, quantity=5)
    with pytest.raises(ValidationError) as refused:
        stock.stock_transfer(actor=inventory_user, lot=lot, to_location=retired, quantity=2)
    assert "retired" in refused.value.message_dict["to_location"][0]
    assert not StockLot.objects.filter(location=retired).exists()
    lot.refresh_from_db()
    assert lot.quantity == 5


@pytest.mark.django_db(transaction=True)
def test_a_receipt_racing_a_retirement_never_leaves_stock_in_a_retired_location():
    """The retirement commits while the receipt waits on the location row: the receipt must
    then see the location retired (it used to slip a lot in behind the check)."""
    location = LocationFactory(name="Annex", code="annex")
    item = ItemFactory(default_location=location)
    retiring = threading.Event()
    outcome = {}

    def retire():
        try:
            with transaction.atomic():
                location_row = Location.objects.get(pk=location.pk)
                location_row.is_active = False
                catalogue.location_save(actor=None, location=location_row)
                retiring.set()
                time.sleep(0.5)  # hold the row lock while the receipt arrives
        finally:
            connection.close()

    def receive_there():
        try:
            retiring.wait(5)
            receive(item, quantity=3, location=location)
            outcome["received"] = True
        except ValidationError as exc:
            outcome["refused"] = exc.message_dict
        finally:
            connection.close()

    threads = [threading.Thread(target=retire), threading.Thread(target=receive_there)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    location.refresh_from_db()
    assert not location.is_active
    assert "refused" in outcome and "retired" in outcome["refused"]["location"][0]
    assert not StockLot.objects.filter(location=location).exists()
