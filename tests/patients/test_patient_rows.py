"""The patient list's rows rendered in Python match the template code they replace."""

from __future__ import annotations

from datetime import date

import pytest
from django.template import Context, Template

from patients.templatetags.patient_rows import patient_row
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

# The row as template code before it moved to patients/templatetags/patient_rows.py.
OLD_ROWS = (
    "{% load uscpis %}"
    + '{% for p in page %}<tr>\n      <td><a href="{% url_for \'patients:chart\' p.pk %}">{{ p.last_name }}, {{ p.first_name }}</a></td>\n      <td class="mono">{{ p.id_number }}</td><td>{{ p.get_patient_type_display }}{% if p.year_level %} · Y{{ p.year_level }}{% endif %}</td>\n      <td>{{ p.college|default:p.department|default:"—" }}</td>\n      <td class="nowrap">{{ p.birth_date|date:"j M Y" }}</td>\n      <td class="actions"><a class="button secondary small" href="{% url_for \'patients:chart\' p.pk %}">Open chart</a></td>\n    </tr>{% endfor %}'
)


def test_patient_rows_match_the_template_they_replace():
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
    ]
    expected = Template(OLD_ROWS).render(Context({"page": patients}))
    got = "".join(patient_row(p) for p in patients)
    assert got == expected
    assert "<b>" not in got and "&lt;Engineering&gt;" in got and "—" in got
