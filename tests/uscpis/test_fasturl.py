"""``reverse_ints`` (and ``{% url_for %}``) give exactly what ``reverse`` gives."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse, set_script_prefix

from uscpis import fasturl
from uscpis.fasturl import reverse_ints


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("patients:chart", (7,)),
        ("patients:chart", (1234567,)),
        ("patients:chart_tab", (42, "timeline")),
        ("patients:visit", (0,)),
        ("patients:visit_diagnosis_remove", (3, 99)),
        ("inventory:item_detail", (5,)),
        ("accounts:home", ()),
    ],
)
def test_same_as_reverse(name, args):
    assert reverse_ints(name, *args) == reverse(name, args=args)


def test_other_arguments_fall_back_to_reverse():
    # A word where a number is expected, a negative number, a value reverse would refuse:
    # reverse's own error, as with {% url %}.
    for name, args in [
        ("patients:chart", ("abc",)),
        ("patients:chart", (-1,)),
        ("patients:chart_tab", (1, "Time Line")),
    ]:
        with pytest.raises(NoReverseMatch):
            reverse_ints(name, *args)
    # Upper case is not taken as slug-safe here: reverse writes it.
    assert reverse_ints("patients:chart_tab", 1, "Timeline") == "/patients/1/tab/Timeline/"


def test_script_prefix_is_respected():
    set_script_prefix("/clinic/")
    try:
        assert reverse_ints("patients:chart", 9) == "/clinic/patients/9/"
    finally:
        set_script_prefix("/")
    assert reverse_ints("patients:chart", 9) == "/patients/9/"


def test_template_tag_matches_url_tag():
    template = Template(
        "{% load uscpis %}{% url_for 'patients:chart_tab' pk 'timeline' %}|"
        "{% url 'patients:chart_tab' pk 'timeline' %}"
    )
    fast, slow = template.render(Context({"pk": 31})).split("|")
    assert fast == slow == "/patients/31/tab/timeline/"


def test_template_literals_take_the_fast_path(monkeypatch):
    # A quoted word in a template reaches the tag as a SafeString (a str subclass); it is
    # as slug-safe as the plain string and must not fall back to reverse().
    def refuse(*args, **kwargs):
        raise AssertionError("fell back to reverse()")

    reverse_ints("patients:chart_tab", 5, "timeline")  # the pieces are now cached
    monkeypatch.setattr(fasturl, "reverse", refuse)
    out = Template("{% load uscpis %}{% url_for 'patients:chart_tab' pk 'timeline' %}").render(
        Context({"pk": 8})
    )
    assert out == "/patients/8/tab/timeline/"


def test_int_url_maker_is_reverse():
    url = fasturl.int_url_maker("patients:visit")
    for pk in (0, 7, 1234567):
        assert url(pk) == reverse("patients:visit", args=[pk])
    with pytest.raises(NoReverseMatch):  # as reverse refuses it
        url(-1)
    assert url("12") == reverse("patients:visit", args=["12"])
    set_script_prefix("/clinic/")
    try:
        assert fasturl.int_url_maker("patients:visit")(9) == "/clinic/patients/visits/9/"
    finally:
        set_script_prefix("/")


def test_url_maker_is_reverse_ints():
    url = fasturl.url_maker("patients:chart_tab")
    assert url(42, "timeline") == reverse("patients:chart_tab", args=[42, "timeline"])
    assert url(1, "Timeline") == reverse("patients:chart_tab", args=[1, "Timeline"])
    with pytest.raises(NoReverseMatch):
        url("abc", "timeline")
