"""``uscpis.forms.FastSelect``, the one select widget written in Python (booking, billing,
audit, analytics and inventory filters): character for character what Django's
``forms.Select``/``forms.SelectMultiple`` templates write for the same choices, attributes
and value."""

from __future__ import annotations

import pytest
from django import forms
from django.utils.functional import lazy
from django.utils.safestring import mark_safe

from uscpis.forms import FastSelect


class FastSelectMultiple(FastSelect, forms.SelectMultiple):
    pass


class InheritingSelect(FastSelect):
    option_inherits_attrs = True


class PlainInheritingSelect(forms.Select):
    option_inherits_attrs = True


LAZY = lazy(lambda: "Lazy <label>", str)()
NASTY = "Arts & <Sciences> \"q\" 'a'"

CASES = [
    ([("", "All"), (1, 'Pills & "caps"'), (2, "<b>Store</b>")], "1"),
    ([("", "All"), (1, "One"), ("1", "One again")], 1),  # only the first match is selected
    ([(None, "Nothing"), ("a", "A")], None),
    ([(None, "Nothing"), ("a", "A")], ""),
    ([("x", "X")], "nope"),
    ([(NASTY, NASTY), ("safe", mark_safe("<i>kept</i>")), ("lazy", LAZY)], NASTY),
    ([(3, 3), (4.5, None), (True, "yes")], 4.5),
    ([("", "Any"), ("Group <g>", [("g1", "G1"), ("g2", "<G2>")]), ("z", "Z")], "g2"),
    ([("", [("e1", "Empty-named group")]), ("z", "Z")], "z"),
    ([], ""),
    ([], None),
]
ATTRS = [
    None,
    {"id": "id_kind", "required": True},
    {"class": 'a"b<c>', "disabled": True, "hidden": False, "data-n": 0, "aria-invalid": "true"},
    {"title": mark_safe("&amp; already")},
]


@pytest.mark.parametrize(("choices", "value"), CASES)
@pytest.mark.parametrize("attrs", ATTRS)
def test_single_select_is_djangos(choices, value, attrs):
    fast = FastSelect(attrs={"class": "narrow"}, choices=choices)
    plain = forms.Select(attrs={"class": "narrow"}, choices=choices)
    assert fast.render("kind<x>", value, attrs) == plain.render("kind<x>", value, attrs)
    inheriting = InheritingSelect(attrs={"class": "narrow"}, choices=choices)
    expected = PlainInheritingSelect(attrs={"class": "narrow"}, choices=choices)
    assert inheriting.render("k", value, attrs) == expected.render("k", value, attrs)


@pytest.mark.parametrize(
    "value", [None, [], ["1", "2"], [1, "x"], ("g1", "z"), "1", [NASTY, "g2", "missing"]]
)
@pytest.mark.parametrize("choices", [c for c, _ in CASES])
def test_multiple_select_is_djangos(choices, value):
    fast = FastSelectMultiple(choices=choices)
    plain = forms.SelectMultiple(choices=choices)
    attrs = {"id": "id_m", "required": True}
    assert fast.render("m", value, attrs) == plain.render("m", value, attrs)
    assert " multiple" in fast.render("m", value, attrs)


def test_a_bound_field_renders_as_djangos():
    """Through a form (``BoundField.as_widget``: id, required, aria-invalid on an error)."""

    class Form(forms.Form):
        size = forms.ChoiceField(choices=[("s", "Small"), ("l", "<Large>")], widget=FastSelect)
        many = forms.MultipleChoiceField(
            choices=[("a", "A"), ("b", "B & c")], widget=FastSelectMultiple, required=False
        )

    class Plain(Form):
        size = forms.ChoiceField(choices=[("s", "Small"), ("l", "<Large>")])
        many = forms.MultipleChoiceField(choices=[("a", "A"), ("b", "B & c")], required=False)

    for data in (None, {"size": "l", "many": ["b"]}, {"size": "nope", "many": ["z"]}):
        fast, plain = Form(data), Plain(data)
        fast.is_valid(), plain.is_valid()
        for name in ("size", "many"):
            assert str(fast[name]) == str(plain[name]), (data, name)
