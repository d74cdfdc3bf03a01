"""The patient list's rows rendered in Python match the template code they replace."""

from __future__ import annotations

from datetime import date

import pytest
from django.template import Context, Template
from django.utils import translation

from patients.forms import PatientSearchForm
from patients.templatetags.patient_rows import patient_filters, patient_rows
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

# The row as template code before it moved to patients/templatetags/patient_rows.py.
OLD_ROWS = (
    "{% load uscpis %}"
    + '{% for p in page %}<tr>\n      <td><a href="{% url_for \'patients:chart\' p.pk %}">{{ p.last_name }}, {{ p.first_name }}</a></td>\n      <td class="mono">{{ p.id_number }}</td><td>{{ p.get_patient_type_display }}{% if p.year_level %} · Y{{ p.year_level }}{% endif %}</td>\n      <td>{{ p.college|default:p.department|default:"—" }}</td>\n      <td class="nowrap">{{ p.birth_date|date:"j M Y" }}</td>\n      <td class="actions"><a class="button secondary small" href="{% url_for \'patients:chart\' p.pk %}">Open chart</a></td>\n    </tr>{% endfor %}'
)


@pytest.mark.parametrize("language", ["en-us", "de", "fr"])
def test_patient_rows_match_the_template_they_replace(language):
    patients = [
        PatientFactory(
            first_name="Ana <b>",
            last_name="O'Neil & Co",
            college="College of <Engineering>",
            year_level=3,
            birth_date=date(2004, 2, 29),
        ),
        PatientFactory(
            first_name="Ben",
            last_name="Quiñones",
            college="",
            department='Clinic "staff"',
            year_level=None,
        ),
        PatientFactory(first_name="Cy", last_name="Dee", college="", department=""),
        *[PatientFactory(birth_date=date(1961 + m, m, 1 + m)) for m in range(1, 13)],
    ]
    with translation.override(language):  # month names translated once per language
        expected = Template(OLD_ROWS).render(Context({"page": patients}))
        got = patient_rows(patients)
    assert got == expected
    assert "<b>" not in got and "&lt;Engineering&gt;" in got and "—" in got
    months = {"en-us": ("Feb", "Dec"), "de": ("Feb", "Dez"), "fr": ("Fév", "Déc")}[language]
    assert f"29 {months[0]} 2004" in got and f"13 {months[1]} 1973" in got


# The search filters as template code before ``{% patient_filters %}`` replaced it.
OLD_FILTERS = (
    "{% load uscpis %}"
    '{% field form.q "grow" %}{% field form.patient_type %}'
    "{% field form.college %}{% field form.year_level %}"
)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"q": "quinones ram"},
        {"q": "a<b>\"&'c", "college": "Arts & <Sciences>", "year_level": "3"},
        {"q": "  ", "patient_type": "student"},
        {"patient_type": "employee", "year_level": "8"},
        {"patient_type": "nonsense", "year_level": "9"},  # errors: the template renders
        {"year_level": "x", "q": "b0054321"},
        {"q": "x" * 101},
    ],
)
def test_patient_filters_match_the_template_they_replace(data):
    form = PatientSearchForm(data)
    form.is_valid()
    expected = Template(OLD_FILTERS).render(Context({"form": form}))
    assert patient_filters(form) == expected
    if data and data.get("q", "").startswith("a<"):
        assert 'value="a&lt;b&gt;&quot;&amp;&#x27;c"' in expected
        assert '<option value="" selected>' in expected
    if data and data.get("patient_type") == "employee":
        assert '<option value="employee" selected>' in expected
