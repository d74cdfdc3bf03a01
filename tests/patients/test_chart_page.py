"""The chart page's fast path (issue 15): the patient, allergies, the balance button's read
and the read event in one round trip (``selectors.patient_for_chart``), and the header and
action bar drawn in Python (``patients/templatetags/chart_page.py``). Each is held to what
it replaced: the same HTML, the same audit event, the same 404s."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import audit
from accounts.models import AuditAction, AuditEvent
from accounts.roles import Role
from patients import selectors
from patients.models import Patient
from tests.patients.factories import AllergyFactory, PatientFactory
from uscpis.registry import ChartLink
from uscpis.request_context import phi_accessed

pytestmark = pytest.mark.django_db

# The chart's action bar as chart.html wrote it before ``{% chart_actions %}``.
ACTIONS_TEMPLATE = """{% load uscpis %}<div class="page-actions chart-actions">
  {% if user|can:"patients.write_medical_visit" %}<form method="post" action="{% url_for 'patients:visit_new' patient.pk %}" class="inline-form">{% csrf_token %}<input type="hidden" name="kind" value="medical"><button class="button" type="submit" hx-disabled-elt="this">New medical visit</button></form>{% endif %}
  {% if user|can:"patients.write_dental_visit" %}<form method="post" action="{% url_for 'patients:visit_new' patient.pk %}" class="inline-form">{% csrf_token %}<input type="hidden" name="kind" value="dental"><button class="button" type="submit" hx-disabled-elt="this">New dental visit</button></form>{% endif %}
  {% if user|can:"patients.manage_documents" %}<a class="button secondary" href="{% url_for 'patients:document_upload' patient.pk %}">Upload document</a>{% endif %}
  {% if user|can:"patients.register" %}<a class="button secondary" href="{% url_for 'patients:edit' patient.pk %}">Edit demographics</a>{% endif %}
  {% for link in chart_links %}<a class="button secondary" href="{{ link.url }}">{{ link.label }}</a>{% endfor %}
  {% if user|can:"patients.export_record" %}<details class="export-menu"><summary class="button secondary">Export</summary><div class="export-panel">
    <a href="{% url_for 'patients:export' patient.pk 'pdf' %}">PDF record</a><a href="{% url_for 'patients:export' patient.pk 'csv' %}">CSV</a><a href="{% url_for 'patients:export' patient.pk 'fhir' %}">FHIR R4 bundle (JSON)</a></div></details>{% endif %}
</div>"""  # noqa: E501

STAFF = [
    Role.DOCTOR,
    Role.DENTIST,
    Role.NURSE,
    Role.FRONT_DESK,
    Role.BILLING_CLERK,
    Role.ADMIN,
]


def _patients():
    yield PatientFactory(middle_name="", college="", year_level=None, blood_type="")
    yield PatientFactory(
        first_name='Ana <b>"&',
        last_name="O'Neil & Sons",
        middle_name="<Zed>",
        college="Law & <Order>",
        year_level=3,
        blood_type="AB+",
        sex="M",
        patient_type="employee",
    )


def _allergy_sets(patient):
    yield []
    yield [
        AllergyFactory(patient=patient, substance="Peni<cillin>", reaction="", severity="mild"),
        AllergyFactory(
            patient=patient, substance="Latex", reaction='Hives & "wheeze"', severity="severe"
        ),
    ]


def test_the_header_tag_draws_what_the_header_template_draws():
    include = Template('{% include "patients/_header.html" %}')
    tag = Template("{% load chart_page %}{% patient_header %}")
    for patient in _patients():
        for allergies in _allergy_sets(patient):
            for clinical in (True, False):
                ctx = {"patient": patient, "allergies": allergies, "clinical": clinical}
                assert tag.render(Context(ctx)) == include.render(Context(ctx))


def test_the_actions_tag_draws_what_the_template_drew(user_for_role):
    tag = Template("{% load chart_page %}{% chart_actions %}")
    old = Template(ACTIONS_TEMPLATE)
    links = [
        ChartLink("Balance ₱1,234.50", "/billing/patients/1/balance/"),
        ChartLink('Odd <"&">', "/x/?a=1&b=<2>"),
    ]
    patient = next(_patients())
    for role in STAFF:
        user = user_for_role(role)
        for token in ("tok3n", "", "NOTPROVIDED"):
            for chart_links in ([], links):
                ctx = {
                    "user": user,
                    "patient": patient,
                    "csrf_token": token,
                    "chart_links": chart_links,
                }
                assert tag.render(Context(ctx)) == old.render(Context(ctx)), (role, token)


CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+"')


def _page(client, url) -> str:
    return CSRF.sub(r'\1-"', client.get(url).content.decode())


@pytest.mark.parametrize("role", STAFF)
def test_the_chart_is_the_page_the_access_helpers_drew(
    role, user_for_role, client_for, monkeypatch
):
    """The one-round-trip head gives the page the separate reads gave (allergy banner,
    balance button, header, actions, tab), for every staff role and each tab it may see."""
    from billing.catalogue import catalogue_ensure
    from tests.billing.conftest import issued_invoice

    catalogue_ensure()
    patient = PatientFactory(middle_name="Q", blood_type="O-")
    AllergyFactory(patient=patient, substance="Aspirin", severity="life_threatening")
    AllergyFactory(patient=patient, substance="Iodine", reaction="Rash", severity="mild")
    issued_invoice(patient, user_for_role(Role.BILLING_CLERK), "LAB-UA")
    client = client_for(user_for_role(role))
    for tab in ("", "overview", "timeline"):
        url = (
            reverse("patients:chart_tab", args=[patient.pk, tab])
            if tab
            else reverse("patients:chart", args=[patient.pk])
        )
        fast = _page(client, url)
        with monkeypatch.context() as m:  # the access helpers' path, read by read
            m.setattr(selectors, "_chart_head_together", lambda *a, **k: None)
            slow = _page(client, url)
        assert fast == slow, (role, tab)


def test_the_chart_reads_in_one_round_trip(doctor_user, client_for):
    patient = PatientFactory()
    AllergyFactory(patient=patient)
    client = client_for(doctor_user)
    url = reverse("patients:chart", args=[patient.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    batch = [q["sql"] for q in queries.captured_queries if "patients_patient" in q["sql"]]
    assert len(batch) == 1
    sql = batch[0]
    for part in (
        "patients_allergy",
        "billing_openbalancepatient",
        "INSERT INTO accounts_auditevent",
    ):
        assert part in sql
    assert len(queries.captured_queries) <= 1  # session, user and timeline come from the cache


def test_the_chart_records_the_read_as_the_access_helper_did(doctor_user, client_for):
    patient = PatientFactory()
    client = client_for(doctor_user)
    before = AuditEvent.objects.count()
    client.get(reverse("patients:chart", args=[patient.pk]))
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert (event.action, event.object_type, event.object_id, event.patient_id) == (
        AuditAction.READ,
        "patients.patient",
        str(patient.pk),
        patient.pk,
    )
    assert (event.actor_id, event.actor_email, event.allowed) == (
        doctor_user.pk,
        doctor_user.email,
        True,
    )
    assert event.detail == {"view": "chart", "tab": "timeline"}
    assert event.path == reverse("patients:chart", args=[patient.pk])
    assert event.request_id


def test_no_such_patient_is_a_404_and_records_nothing(doctor_user, client_for):
    missing = (Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    client = client_for(doctor_user)
    before = AuditEvent.objects.count()
    response = client.get(reverse("patients:chart", args=[missing]))
    assert response.status_code == 404
    assert AuditEvent.objects.count() == before


def test_a_patient_reaching_a_staff_chart_url_is_refused(patient_user, client_for):
    other = PatientFactory()
    response = client_for(patient_user).get(reverse("patients:chart", args=[other.pk]))
    assert response.status_code in (403, 404)
    assert not AuditEvent.objects.filter(patient_id=other.pk, action=AuditAction.READ).exists()


def test_the_head_is_what_the_access_helpers_give(doctor_user, nurse_user):
    patient = PatientFactory()
    allergies = [
        AllergyFactory(patient=patient, substance=s, severity=v)
        for s, v in (("B", "mild"), ("A", "mild"), ("C", "life_threatening"))
    ]
    AllergyFactory(patient=patient, substance="Gone", is_active=False)
    owed = ("SELECT 41.5", [])
    head = selectors.patient_for_chart(
        doctor_user, patient.pk, detail={"view": "t"}, allergies=True, extra=[owed, owed]
    )
    assert head.patient == patient
    assert [(f.name, getattr(head.patient, f.attname)) for f in Patient._meta.concrete_fields] == [
        (f.name, getattr(patient, f.attname)) for f in Patient._meta.concrete_fields
    ]
    assert [a.pk for a in head.allergies] == [a.pk for a in selectors.active_allergies(patient)]
    assert [a.substance for a in head.allergies] == ["C", "A", "B"]
    assert len(allergies) == 3
    assert head.extra_rows == [[(Decimal("41.5"),)], [(Decimal("41.5"),)]]
    head = selectors.patient_for_chart(
        nurse_user, patient.pk, detail={"view": "t"}, allergies=False, extra=[owed]
    )
    assert head.allergies == [] and head.extra_rows == [[(Decimal("41.5"),)]]


def test_the_read_event_statement_is_written_once_per_request(doctor_user):
    patient = PatientFactory()
    token = phi_accessed.set(set())
    try:
        first = audit.audit_phi_read_statement(
            actor=doctor_user,
            patient_id=patient.pk,
            condition=("EXISTS (SELECT 1 FROM patients_patient WHERE id = %s)", [patient.pk]),
        )
        assert first is not None
        # Within a transaction (as here) the event is the caller's: one statement.
        assert len(first.statements) == 1
        assert (
            audit.audit_phi_read_statement(
                actor=doctor_user, patient_id=patient.pk, condition=("true", [])
            )
            is None
        )
        assert not first.recorded([])  # not written: the request may record it later
        again = audit.audit_phi_read_statement(
            actor=doctor_user, patient_id=patient.pk, condition=("false", [])
        )
        with connection.cursor() as cursor:
            cursor.execute(*again.statements[-1])
            assert not again.recorded(cursor.fetchall())
        assert not AuditEvent.objects.filter(patient_id=patient.pk).exists()
    finally:
        phi_accessed.reset(token)


@pytest.mark.django_db(transaction=True)
def test_on_its_own_the_read_event_commits_without_waiting_for_the_flush(doctor_user):
    """Outside a transaction the batch is its own transaction: the event is committed
    (visible at once) with synchronous_commit off for that transaction alone."""
    from uscpis.compiled import fetch_together

    patient = PatientFactory()
    pending = audit.audit_phi_read_statement(
        actor=doctor_user,
        patient_id=patient.pk,
        condition=("EXISTS (SELECT 1 FROM patients_patient WHERE id = %s)", [patient.pk]),
        detail={"view": "chart"},
    )
    # One statement: the INSERT makes the setting itself (see READ_EVENT_NO_FLUSH_WAIT).
    ((insert, _),) = pending.statements
    assert audit.READ_EVENT_NO_FLUSH_WAIT in insert
    rows = fetch_together([*pending.statements, ("SHOW synchronous_commit", [])])
    assert pending.recorded(rows[0])
    assert rows[1] == [("off",)]  # inside the batch's transaction, after the INSERT
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)  # the session's setting is untouched
    event = AuditEvent.objects.get(pk=rows[0][0][0])
    assert (event.patient_id, event.action, event.detail) == (
        patient.pk,
        AuditAction.READ,
        {"view": "chart"},
    )


def test_the_header_tag_on_a_page_without_clinical_context():
    patient = next(_patients())
    rf = RequestFactory()
    ctx = {"patient": patient, "request": rf.get("/")}
    include = Template('{% include "patients/_header.html" %}')
    tag = Template("{% load chart_page %}{% patient_header %}")
    assert tag.render(Context(ctx)) == include.render(Context(ctx))


def test_static_url_is_the_static_tags_url(settings):
    old = Template("{% load static %}{% static 'css/patients.css' %}")
    new = Template("{% load chart_page %}{% static_url 'css/patients.css' %}")
    assert new.render(Context()) == old.render(Context())
    settings.STATIC_URL = "/elsewhere/"  # a changed setting is not answered from memory
    assert new.render(Context()) == old.render(Context())
    assert "/elsewhere/" in new.render(Context())


def test_the_header_writes_birth_dates_in_the_active_language():
    from django.utils import translation

    patient = PatientFactory()
    include = Template('{% include "patients/_header.html" %}')
    tag = Template("{% load chart_page %}{% patient_header %}")
    for language in ("en-us", "fil", "de"):
        with translation.override(language):
            ctx = {"patient": patient}
            assert tag.render(Context(ctx)) == include.render(Context(ctx)), language


@pytest.mark.django_db(transaction=True)
def test_the_read_event_waits_for_the_flush_when_settings_ask(doctor_user, settings):
    """AUDIT_READ_EVENTS_WAIT_FOR_FLUSH: the batch keeps the session's synchronous commit."""
    from uscpis.compiled import fetch_together

    settings.AUDIT_READ_EVENTS_WAIT_FOR_FLUSH = True
    patient = PatientFactory()
    pending = audit.audit_phi_read_statement(
        actor=doctor_user,
        patient_id=patient.pk,
        condition=("EXISTS (SELECT 1 FROM patients_patient WHERE id = %s)", [patient.pk]),
        detail={"view": "chart"},
    )
    assert audit.READ_EVENT_NO_FLUSH_WAIT not in " ".join(sql for sql, _ in pending.statements)
    rows = fetch_together([*pending.statements, ("SHOW synchronous_commit", [])])
    assert pending.recorded(rows[0])
    assert rows[1] == [("on",)]
    assert AuditEvent.objects.filter(pk=rows[0][0][0], patient_id=patient.pk).exists()
