"""The stock overview's filter bar (inventory.filters): the fields drawn in Python are what
``{% field %}`` (templates/_field.html) draws, and the category and location lists validate
like the ModelChoiceFields they replace."""

from __future__ import annotations

import pytest
from django import forms
from django.template import Context, Template

from inventory.filters import StockFilterForm, filter_fields
from inventory.models import Category
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db

OLD_BAR = (
    '{% load uscpis %}{% field form.q "grow" %}{% field form.kind %}{% field form.category %}'
    "{% field form.location %}{% field form.status %}"
)


@pytest.fixture
def lists():
    pills = Category.objects.create(name='Pills & "caps"')
    Category.objects.create(name="Antiseptics")
    store = LocationFactory(name="Store <room>", code="store")
    LocationFactory(name="Retired", code="retired", is_active=False)
    return {"pills": pills, "store": store}


DATA = [
    None,
    {},
    {"q": 'para "500" <b>'},
    {"kind": "medication", "status": "low"},
    {"category": "PILLS", "location": "STORE"},
    {"category": "999999", "kind": "nonsense", "status": "bogus"},  # errors shown
    {"location": "RETIRED"},  # a retired location is not offered
]


@pytest.mark.parametrize("data", DATA)
def test_filter_bar_is_what_the_field_template_draws(lists, data):
    if data:
        ids = {"PILLS": lists["pills"].pk, "STORE": lists["store"].pk}
        ids["RETIRED"] = LocationFactory(code="retired").pk
        data = {k: str(ids.get(v, v)) for k, v in data.items()}
    form = StockFilterForm(data)
    form.is_valid()
    assert filter_fields(form) == Template(OLD_BAR).render(Context({"form": form}))


def test_lists_clean_to_objects_and_refuse_what_they_do_not_offer(lists):
    form = StockFilterForm({"category": str(lists["pills"].pk), "location": str(lists["store"].pk)})
    assert form.is_valid()
    assert form.cleaned_data["category"] == lists["pills"]
    assert form.cleaned_data["location"] == lists["store"]
    retired = LocationFactory(code="retired")
    for field, value in (("category", "999999"), ("location", str(retired.pk)), ("category", "x")):
        form = StockFilterForm({field: value})
        assert not form.is_valid()
        assert form.errors[field] == [
            forms.ModelChoiceField.default_error_messages["invalid_choice"]
        ]
    form = StockFilterForm({})
    assert form.is_valid() and form.cleaned_data["category"] is None


def test_filter_bar_reads_its_lists_in_one_query(lists, django_assert_num_queries):
    with django_assert_num_queries(1):
        form = StockFilterForm({"category": str(lists["pills"].pk)})
        assert form.is_valid()
        filter_fields(form)
