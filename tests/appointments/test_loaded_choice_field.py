"""uscpis.forms.LoadedModelChoiceField / FastSelect: the booking form's short lists (issue 15)."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments.forms import SlotPickerForm
from appointments.models import AppointmentType
from uscpis.forms import FastSelect, LoadedModelChoiceField

pytestmark = pytest.mark.django_db


def _norm(html: str) -> str:
    return re.sub(r">\s+<", "><", str(html)).strip()


class Plain(forms.Form):
    kind = forms.ModelChoiceField(
        queryset=AppointmentType.objects.order_by("name"), empty_label="Pick…", label="Kind"
    )


class Loaded(forms.Form):
    kind = LoadedModelChoiceField(
        queryset=AppointmentType.objects.order_by("name"), empty_label="Pick…", label="Kind"
    )


@pytest.fixture
def kinds(clinic):
    AppointmentType.objects.create(name='Tom & "Jerry" <b>', slug="tricky", duration_minutes=15)
    return AppointmentType.objects.order_by("name")


@pytest.mark.parametrize("data", [None, {"kind": ""}, {"kind": "first"}, {"kind": "nope"}])
def test_same_markup_and_errors_as_djangos_field(kinds, data):
    if data and data["kind"] == "first":
        data = {"kind": str(kinds[0].pk)}
    plain, loaded = Plain(data), Loaded(data)
    if data is not None:
        assert plain.is_valid() == loaded.is_valid()
        assert plain.errors == loaded.errors
        assert plain.cleaned_data == loaded.cleaned_data
    assert _norm(loaded["kind"]) == _norm(plain["kind"])
    assert "&lt;b&gt;" in str(loaded["kind"]) and "<b>" not in str(loaded["kind"])


def test_selected_and_attributes(kinds):
    chosen = kinds[1]
    html = str(Loaded({"kind": str(chosen.pk)})["kind"])
    assert f'<option value="{chosen.pk}" selected>' in html
    assert html.startswith('<select name="kind" required id="id_kind">')
    assert (
        FastSelect(attrs={"disabled": True, "data-x": 'a"b'})
        .render("n", None)
        .startswith('<select name="n" disabled data-x="a&quot;b">')
    )


@pytest.mark.parametrize("value", ["999999", "1.5", "abc", "1\x00"])
def test_unknown_or_malformed_answers_are_form_errors(kinds, value):
    form = Loaded({"kind": value})
    assert not form.is_valid() and "kind" in form.errors


def test_queryset_read_once_per_form_and_never_shared(kinds):
    first = kinds[0].pk
    with CaptureQueriesContext(connection) as queries:
        form = Loaded({"kind": str(first)})
        assert form.is_valid()
        str(form["kind"])
    assert len(queries.captured_queries) == 1
    assert "DECLARE" not in queries.captured_queries[0]["sql"]  # no server-side cursor
    AppointmentType.objects.create(name="Added later", slug="later", duration_minutes=15)
    assert "Added later" in str(Loaded()["kind"])  # a new form reads the table again


def _picker_form_queries(clinic) -> tuple[list[str], str]:
    with CaptureQueriesContext(connection) as queries:
        form = SlotPickerForm(
            {"type": clinic.consult.pk, "provider": clinic.doctor.pk, "date": ""}, staff=True
        )
        assert form.is_valid()
        assert form.cleaned_data["provider"] == clinic.doctor
        html = str(form["type"]) + str(form["provider"])
    return [q["sql"] for q in queries.captured_queries], html


def test_slot_picker_form_queries(clinic):
    """Validating and rendering the booking form: one query per list (was two each, the
    rendering one through a server-side cursor) and one for who performs what, read once
    and then shared (appointments.picker.choices) until a write changes them."""
    sqls, html = _picker_form_queries(clinic)
    assert not any("DECLARE" in sql for sql in sqls)  # no server-side cursor
    lists = [s for s in sqls if 'appointmenttype"' in s and "providerprofile_id" not in s]
    assert len(lists) == 1  # the type list, read once (+ the "does this provider do it" list)
    assert sum('FROM "appointments_providerprofile"' in sql for sql in sqls) == 1
    assert len(sqls) == 3
    assert f'value="{clinic.doctor.pk}" selected' in html
    assert "Dental cleaning" in html
    assert "password" not in " ".join(sqls) and "feed_token" not in " ".join(sqls)
    again, html_again = _picker_form_queries(clinic)
    assert again == [] and html_again == html
