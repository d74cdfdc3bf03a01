"""The billing pages' reads in one round trip each (the account tab with its patient and
read event, the invoice page with its invoice, lines and history, AR ageing's footer with
its page), some as statements prepared on the connection (uscpis/prepared.py): the same
pages, the same audit events and the same 404s as the reads they replaced."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from billing import screens, selectors
from billing.services import invoices as invoice_services
from patients import selectors as patient_selectors
from tests.billing.conftest import hmo_coverage, issued_invoice
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+"')


def _page(client, url, **extra) -> str:
    response = client.get(url, **extra)
    assert response.status_code == 200
    return CSRF.sub(r'\1-"', response.content.decode())


def _values(obj) -> dict | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


# --- The patient's account tab -----------------------------------------------------------


def test_the_account_tab_reads_in_one_round_trip(world, billing_user, client_for):
    client = client_for(billing_user)
    url = reverse("billing:patient", args=[world["me"].pk])
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    batch = [q["sql"] for q in queries.captured_queries if "patients_patient" in q["sql"]]
    assert len(batch) == 1
    for part in ("billing_payment", "INSERT INTO accounts_auditevent"):
        assert part in batch[0]
    # Prepared on the connection: the balance, the count, the page of invoices, coverages.
    assert batch[0].count("EXECUTE ") == 4 and "PREPARE" not in batch[0]
    assert len(queries.captured_queries) == 1


def test_the_account_tab_is_the_page_and_event_the_access_helper_gave(
    world, billing_user, client_for, monkeypatch
):
    hmo_coverage(world["me"], percent="50")
    for _ in range(26):  # two pages
        issued_invoice(world["me"], billing_user, "LAB-UA")
    client = client_for(billing_user)
    url = reverse("billing:patient", args=[world["me"].pk])
    for params in ({}, {"page": "2"}, {"page": "99"}, {"page": "x"}):
        fast = _page(client, url, data=params)
        fast_event = _last_event()
        with monkeypatch.context() as m:  # the access helper's path, then the reads
            m.setattr(patient_selectors, "_chart_head_together", lambda *a, **k: None)
            slow = _page(client, url, data=params)
        slow_event = _last_event()
        assert fast == slow, params
        assert fast_event.pk != slow_event.pk
        for event in (fast_event, slow_event):
            assert (
                event.action,
                event.object_type,
                event.object_id,
                event.patient_id,
                event.detail,
                event.actor_id,
            ) == (
                AuditAction.READ,
                "billing.account",
                str(world["me"].pk),
                world["me"].pk,
                {},
                billing_user.pk,
            )


def test_the_account_tab_of_no_patient_is_a_404_recording_nothing(billing_user, client_for):
    client = client_for(billing_user)
    before = AuditEvent.objects.count()
    assert client.get(reverse("billing:patient", args=[10**9])).status_code == 404
    assert AuditEvent.objects.count() == before


def test_account_page_for_user_is_the_account_page(world, billing_user):
    for number in (None, "1", "2", "0", "-3", "abc", "1.5"):
        patient, together = screens.patient_account_for_user(billing_user, world["me"].pk, number)
        alone = screens.patient_account_page(world["me"].pk, number)
        assert _values(patient) == _values(world["me"])
        assert together.balance == alone.balance
        assert together.page.number == alone.page.number
        assert [_values(i) for i in together.page] == [_values(i) for i in alone.page]
        assert [_values(p) for p in together.payments] == [_values(p) for p in alone.payments]


# --- The invoice page --------------------------------------------------------------------


def _invoices(world, billing_user) -> list:
    voided = issued_invoice(PatientFactory(), billing_user, "LAB-CBC", "LAB-UA")
    invoice_services.invoice_void(actor=billing_user, invoice=voided, reason="Wrong <patient>")
    covered = PatientFactory(patient_type="employee")
    hmo_coverage(covered, percent="50")
    with_payer = issued_invoice(covered, billing_user, "LAB-CBC")
    return [world["invoice"], world["draft"], world["emp_invoice"], voided, with_payer]


def test_the_invoice_page_reads_are_the_access_helper_and_the_page_reads(world, billing_user):
    """Lines read before the invoice's status is known: a void invoice's voided lines, any
    other's current ones, as ``invoice_page_reads`` chose them from the status."""
    for invoice in _invoices(world, billing_user):
        got, lines, history = screens.invoice_page_for_user(billing_user, invoice.pk)
        expected = selectors.get_invoice_for_user(billing_user, invoice.pk, purpose=None)
        expected_lines, expected_history = screens.invoice_page_reads(expected)
        assert _values(got) == _values(expected)
        for name in ("patient", "issued_by", "voided_by", "coverage"):
            assert _values(getattr(got, name)) == _values(getattr(expected, name))
        assert lines and [_values(x) for x in lines] == [_values(x) for x in expected_lines]
        for a, b in zip(lines, expected_lines, strict=True):
            assert _values(a.service) == _values(b.service)
            assert _values(a.coverage) == _values(b.coverage)
        assert [_values(a) for a in history.allocations] == [
            _values(a) for a in expected_history.allocations
        ]
        assert [c.pk for c in history.claims] == [c.pk for c in expected_history.claims]


def test_the_invoice_page_is_the_page_it_was(world, billing_user, client_for, monkeypatch):
    client = client_for(billing_user)
    for invoice in _invoices(world, billing_user):
        url = reverse("billing:invoice", args=[invoice.pk])
        fast = _page(client, url)
        fast_event = _last_event()
        with monkeypatch.context() as m:  # the separate reads: invoice, event, lines
            m.setattr(selectors, "invoice_with_parties_statement", lambda pk: None)
            slow = _page(client, url)
        assert fast == slow
        assert (fast_event.action, fast_event.object_type, fast_event.object_id) == (
            AuditAction.READ,
            "billing.invoice",
            str(invoice.pk),
        )
        assert fast_event.patient_id == invoice.patient_id
        assert fast_event.detail == {} and fast_event.actor_id == billing_user.pk


def test_the_invoice_page_reads_and_records_the_read_in_one_round_trip(
    world, billing_user, client_for
):
    client = client_for(billing_user)
    url = reverse("billing:invoice", args=[world["invoice"].pk])
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    sent = [q["sql"] for q in queries.captured_queries]
    assert len(sent) == 1
    assert sent[0].count("EXECUTE ") == 3  # invoice, lines, history: prepared
    assert "INSERT INTO accounts_auditevent" in sent[0]


def test_the_invoice_pages_event_is_the_access_helpers(world, billing_user, client_for):
    """The event written in the reads' round trip is the one ``get_invoice_for_user``
    records (only its id, time and request differ)."""
    client = client_for(billing_user)
    url = reverse("billing:invoice", args=[world["invoice"].pk])
    client.get(url)
    together = _last_event()
    helper = selectors.get_invoice_for_user(
        billing_user, world["invoice"].pk, purpose=AuditAction.READ
    )
    alone = _last_event()
    assert helper.pk == world["invoice"].pk and alone.pk != together.pk
    columns = ("actor_id", "actor_email", "action", "object_type", "object_id", "patient_id")
    assert [getattr(together, c) for c in columns] == [getattr(alone, c) for c in columns]
    assert (together.allowed, together.detail) == (alone.allowed, alone.detail) == (True, {})
    assert together.path == url and together.request_id


def test_no_such_invoice_is_a_404_recording_nothing(world, billing_user, client_for):
    client = client_for(billing_user)
    before = AuditEvent.objects.count()
    for pk in (10**9, 10**20):
        assert client.get(f"/billing/invoices/{pk}/").status_code == 404
    assert AuditEvent.objects.count() == before


def test_another_patients_invoice_through_the_together_read_is_a_denied_404(world, patient_user):
    from django.http import Http404

    before = AuditEvent.objects.filter(action=AuditAction.DENIED).count()
    with pytest.raises(Http404):
        selectors.get_invoice_with_reads_for_user(
            patient_user, world["emp_invoice"].pk, purpose=AuditAction.READ, extra=[]
        )
    assert AuditEvent.objects.filter(action=AuditAction.DENIED).count() == before + 1
    assert not AuditEvent.objects.filter(
        action=AuditAction.READ, patient_id=world["emp_invoice"].patient_id, actor=patient_user
    ).exists()


# --- AR ageing ---------------------------------------------------------------------------


def test_ar_ageing_page_is_one_round_trip_and_clamps_the_page(catalogue, billing_user):
    today = timezone.localdate()
    patients = [PatientFactory(patient_type="student") for _ in range(5)]
    for n, patient in enumerate(patients):
        issued_invoice(patient, billing_user, "LAB-UA", day=today - timedelta(days=20 * n))
    with CaptureQueriesContext(connection) as queries:
        first = selectors.report_ar_by_patient(page=1, per_page=2)
    assert len(queries.captured_queries) == 1
    last = selectors.report_ar_by_patient(page=3, per_page=2)
    for page, number in (("9", 3), (10**40, 3), ("0", 1), ("-4", 1), ("x", 1), (2, 2)):
        report = selectors.report_ar_by_patient(page=page, per_page=2)
        assert report.page.number == number, page
        expected = {1: first, 3: last}.get(number)
        if expected is not None:
            assert report.rows == expected.rows and report.totals == expected.totals
    everything = selectors.report_ar_by_patient(page=None)
    shown = [
        row for n in (1, 2, 3) for row in selectors.report_ar_by_patient(page=n, per_page=2).rows
    ]
    assert shown == everything.rows


# --- The read event naming the patient its statement finds ---------------------------------


def test_the_event_of_a_record_whose_patient_is_read_with_it(world, billing_user):
    from accounts.audit import audit_phi_access, audit_phi_read_of_statement
    from uscpis.request_context import phi_accessed

    invoice = world["invoice"]
    patient_of = (selectors._PATIENT_OF_INVOICE, [invoice.pk])
    token = phi_accessed.set(set())
    try:
        event = audit_phi_read_of_statement(
            actor=billing_user,
            patient_of=patient_of,
            object_type="billing.invoice",
            object_id=invoice.pk,
        )
        before = AuditEvent.objects.count()
        rows = screens.fetch_together(list(event.statements))
        assert event.recorded(rows[-1]) == invoice.patient_id
        assert AuditEvent.objects.count() == before + 1
        written = _last_event()
        assert (written.patient_id, written.object_id, written.action) == (
            invoice.patient_id,
            str(invoice.pk),
            AuditAction.READ,
        )
        # The request has recorded that patient's read: the helper records it no more...
        assert (
            audit_phi_access(
                actor=billing_user, action=AuditAction.READ, patient_id=invoice.patient_id
            )
            is None
        )
        # ...and, a read being recorded, whose it was is not known before a round trip.
        assert (
            audit_phi_read_of_statement(
                actor=billing_user, patient_of=patient_of, object_type="x", object_id=1
            )
            is None
        )
    finally:
        phi_accessed.reset(token)
    missing = audit_phi_read_of_statement(
        actor=billing_user,
        patient_of=(selectors._PATIENT_OF_INVOICE, [10**9]),
        object_type="billing.invoice",
        object_id=10**9,
    )
    before = AuditEvent.objects.count()
    rows = screens.fetch_together(list(missing.statements))
    assert missing.recorded(rows[-1]) is None and AuditEvent.objects.count() == before
