"""The chart timeline rows rendered in Python (issue 15) say exactly what the template said:
same markup once whitespace is normalised, escaped text, localised numbers and dates. The
reference template reads the visits as models (``visit_timeline`` with its prefetches); the
tag reads the one-query rows of ``patients.timeline``."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

from patients.models import Diagnosis, Icd10Code, Prescription, VitalSigns
from patients.selectors import visit_timeline
from patients.timeline import visit_timeline_rows
from tests.patients.factories import PatientFactory, VisitFactory

pytestmark = pytest.mark.django_db

# The template loop this tag replaced, kept verbatim as the reference.
OLD_LOOP = (
    "{% load uscpis %}"
    + '    {% for v in page %}<li class="timeline-item kind-{{ v.kind }}">\n      <div class="timeline-when">{{ v.started_at|date:"D j M Y, g:i A" }}</div>\n      <div class="timeline-body">\n        <a href="{% url_for \'patients:visit\' v.pk %}"><strong>{{ v.get_kind_display }}</strong></a>\n        {% if v.is_signed %}<span class="badge good">Signed</span>{% else %}<span class="badge warn">Draft</span>{% endif %}\n        <span class="muted">\u00b7 {{ v.provider.full_name }}</span>\n        {% if v.chief_complaint %}<div>{{ v.chief_complaint }}</div>{% endif %}\n        <div class="small">{% for d in v.diagnoses.all %}<span class="badge info">{{ d.icd10.code }}</span> {{ d.icd10.title }}{% if not forloop.last %}; {% endif %}{% endfor %}\n        {% for vs in v.vitals.all|slice:":1" %}<span class="muted"> \u00b7 {% if vs.temperature_c %}T {{ vs.temperature_c }} \u00b0C {% endif %}{% if vs.blood_pressure %}BP {{ vs.blood_pressure }} {% endif %}{% if vs.bmi %}BMI {{ vs.bmi }}{% endif %}</span>{% endfor %}\n        {% with n=v.prescriptions.all|length %}{% if n %}<span class="muted"> \u00b7 {{ n }} prescription{{ n|pluralize }}</span>{% endif %}{% endwith %}</div>\n      </div></li>{% endfor %}\n'
)
NEW_LOOP = "{% load chart_rows %}{% timeline_items page %}"


def _norm(html: str) -> str:
    return (
        re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html))
        .replace("> ", ">")
        .replace(" <", "<")
        .strip()
    )


def test_timeline_rows_match_the_template(doctor_user):
    patient = PatientFactory()
    plain = VisitFactory(
        patient=patient,
        provider=doctor_user,
        status="signed",
        signed_by=doctor_user,
        signed_at=timezone.now(),
        chief_complaint='Fever <script>alert("x")</script> & cough',
    )
    code_a = Icd10Code.objects.create(code="Z99.91", title="Test code <b> & more")
    code_b = Icd10Code.objects.create(code="Z99.92", title="Fever, unspecified")
    Diagnosis.objects.create(visit=plain, icd10=code_a, is_primary=True)
    Diagnosis.objects.create(visit=plain, icd10=code_b)
    VitalSigns.objects.create(
        visit=plain,
        recorded_by=doctor_user,
        temperature_c=Decimal("38.4"),
        systolic=120,
        diastolic=80,
    )
    for i in range(2):
        Prescription.objects.create(
            visit=plain, drug_name=f"Drug {i}", dose="1 tab", frequency="tid", quantity=10
        )
    VisitFactory(
        patient=patient, provider=doctor_user, chief_complaint="", kind="dental"
    )  # a draft, nothing else
    one = VisitFactory(patient=patient, provider=doctor_user, chief_complaint="Check-up")
    Prescription.objects.create(visit=one, drug_name="Drug", dose="1", frequency="od", quantity=1)
    # Vitals with none of temperature, blood pressure or BMI still show the separator; of
    # several vitals the latest counts; a visit with diagnoses only.
    pulse_only = VisitFactory(patient=patient, provider=doctor_user, chief_complaint="Pulse")
    VitalSigns.objects.create(visit=pulse_only, recorded_by=doctor_user, pulse=80)
    two_sets = VisitFactory(patient=patient, provider=doctor_user, chief_complaint="Twice")
    VitalSigns.objects.create(
        visit=two_sets,
        recorded_by=doctor_user,
        recorded_at=timezone.now() - timedelta(hours=1),
        temperature_c=Decimal("39.9"),
    )
    VitalSigns.objects.create(
        visit=two_sets,
        recorded_by=doctor_user,
        temperature_c=Decimal("37.0"),
        height_cm=Decimal("170.0"),
        weight_kg=Decimal("65.0"),
        bmi=Decimal("22.5"),
    )
    Diagnosis.objects.create(visit=two_sets, icd10=code_b)
    Diagnosis.objects.create(visit=two_sets, icd10=code_a, is_primary=True)
    models = list(visit_timeline(patient))
    rows = visit_timeline_rows(patient.pk, offset=0, limit=50)
    assert [r.id for r in rows] == [v.pk for v in models]
    old = Template(OLD_LOOP).render(Context({"page": models}))
    new = Template(NEW_LOOP).render(Context({"page": rows}))
    assert _norm(new) == _norm(old)
    assert "&lt;script&gt;" in new and "<script>" not in new
    assert "38.4" in new and "1 prescription<" in new and "2 prescriptions" in new
    assert "T 37.0" in new and "39.9" not in new and "BMI 22.5" in new
    assert new.index("Z99.91") < new.index("Z99.92")  # the primary diagnosis first


def test_timeline_rows_page_through_the_history(doctor_user):
    patient = PatientFactory()
    visits = [VisitFactory(patient=patient, provider=doctor_user) for _ in range(7)]
    VisitFactory(provider=doctor_user)  # another patient's visit never shows
    expected = [v.pk for v in visit_timeline(patient)]
    assert sorted(expected) == sorted(v.pk for v in visits)
    got = [
        r.id for start in (0, 3, 6) for r in visit_timeline_rows(patient.pk, offset=start, limit=3)
    ]
    assert got == expected
    assert visit_timeline_rows(patient.pk, offset=7, limit=3) == []


OLD_TABS = (
    "{% load uscpis %}{% for name, label in tabs %}<a href=\"{% url_for 'patients:chart_tab' pk name %}\""
    ' hx-get="{% url_for \'patients:chart_tab\' pk name %}" hx-target="#chart-tab"'
    ' hx-swap="outerHTML" hx-push-url="true"{% if name == tab %} aria-selected="true"'
    ' class="active"{% endif %}>{{ label }}</a>{% endfor %}'
)


@pytest.mark.parametrize("current", ["timeline", "overview", "certificates"])
def test_chart_tabs_match_the_template(current):
    tabs = [("overview", "Overview"), ("timeline", "Visits"), ("problems", "Problems & history")]
    tabs.append(("certificates", "Certificates"))
    ctx = {"tabs": tabs, "pk": 4321, "tab": current}
    old = Template(OLD_TABS).render(Context(ctx))
    new = Template("{% load chart_rows %}{% chart_tabs pk tabs tab %}").render(Context(ctx))
    assert new == old
    assert "Problems &amp; history" in new and new.count('aria-selected="true"') == 1
