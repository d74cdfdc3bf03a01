"""Billing markup drawn in Python (billing/templatetags/billing_rows.py) is the template code
it replaced, character for character, escaping included; the invoice page's one-query history
(billing/screens.py) is the four querysets it replaced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from billing import forms, screens
from billing.models import (
    Allocation,
    ApprovalStatus,
    Invoice,
    InvoiceLine,
    Payment,
    WriteOff,
)
from billing.services import invoices as invoice_services
from billing.templatetags.billing_rows import (
    cashier_payment_rows,
    clock_label,
    day_label,
    fields,
    patient_invoice_rows,
    patient_payment_items,
    short_day_label,
)
from patients.models import Patient
from tests.billing.conftest import issued_invoice
from tests.patients.factories import PatientFactory
from uscpis.dates import label_words

pytestmark = pytest.mark.django_db

# The template code each tag replaced (billing/patient.html, cashier.html, cashier_day.html).
OLD_INVOICE_ROWS = (
    "{% load uscpis billing_tags %}"
    "{% for inv in page %}<tr><td><a href=\"{% url 'billing:invoice' inv.pk %}\">"
    '{{ inv.number|default:"Draft" }}</a></td><td class="nowrap">'
    '{{ inv.visit_day|date:"D j M Y" }}</td><td>{% status_badge inv.status inv.get_status_display %}'
    '</td><td class="num">{{ inv.net_total|money }}</td><td class="num">{{ inv.balance|money }}'
    "</td></tr>{% endfor %}"
)
OLD_PAYMENT_ITEMS = (
    "{% load uscpis %}"
    "{% for p in payments %}<li><a href=\"{% url 'billing:payment' p.pk %}\">{{ p.receipt_number }}"
    '</a> · {{ p.received_at|date:"j M Y" }} · {{ p.get_method_display }} · {{ p.amount|money }}'
    "{% if p.unallocated %} ({{ p.unallocated|money }} credit){% endif %}</li>{% endfor %}"
)
OLD_CASHIER_ROWS = (
    "{% load uscpis %}"
    "{% for p in payments %}<tr><td><a href=\"{% url 'billing:payment' p.pk %}\">"
    '{{ p.receipt_number }}</a></td><td>{{ p.received_at|date:"g:i A" }}</td>'
    "<td>{{ p.patient.full_name }}</td><td>{{ p.get_method_display }}</td>"
    '<td class="num">{{ p.amount|money }}</td></tr>{% endfor %}'
)
OLD_FIELDS = "{% load uscpis %}{% for f in form %}{% field f %}{% endfor %}"


def _old(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_date_labels_are_djangos_formats_over_a_year_in_two_languages():
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    moments = [start + timedelta(hours=h, minutes=h % 61) for h in range(0, 24 * 370, 7)]
    for language in ("en", "fr"):
        with translation.override(language):
            words = label_words(translation.get_language())
            for m in moments:
                assert day_label(m.date(), words) == _old('{{ d|date:"D j M Y" }}', d=m.date())
                local = timezone.localtime(m)  # |date shows an aware time in the current zone
                assert short_day_label(local, words) == _old('{{ d|date:"j M Y" }}', d=m)
                assert clock_label(local, words) == _old('{{ d|date:"g:i A" }}', d=m)


def test_patient_invoice_rows_match_the_template(world):
    stored = list(Invoice.objects.filter(patient=world["me"]).order_by("-visit_day", "-id"))
    made_up = [
        Invoice(pk=9001, number='<b>"X"</b> & Co', status="partially_paid",
                visit_day=date(2026, 2, 28), net_total=Decimal("1234.5"),
                patient_total=Decimal("1234.5"), amount_paid=Decimal("1000")),
        Invoice(pk=9002, number=None, status="draft", visit_day=date(2025, 12, 31)),
        Invoice(pk=9003, number="INV-3", status="void", visit_day=date(2026, 1, 1)),
        Invoice(pk=9004, number="INV-4", status="written_off", visit_day=date(2026, 3, 1)),
        Invoice(pk=9005, number="INV-5", status="<odd>", visit_day=date(2026, 3, 1),
                net_total=Decimal("-5")),
    ]  # fmt: skip
    page = stored + made_up
    got = patient_invoice_rows(page)
    assert got == _old(OLD_INVOICE_ROWS, page=page)
    assert "&lt;b&gt;&quot;X&quot;&lt;/b&gt; &amp; Co" in got and "<b>" not in got
    assert ">Draft<" in got and "&lt;odd&gt;" in got
    assert len(stored) >= 2  # the issued invoice and the draft


def test_patient_payment_items_match_the_template(world):
    stored = list(Payment.objects.order_by("-received_at"))
    late = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # the next day in Manila
    made_up = [
        Payment(pk=8001, receipt_number="<OR>&1", method="maya", amount=Decimal("10"),
                unallocated=Decimal("2.5"), received_at=late),
        Payment(pk=8002, receipt_number="OR-2", method="odd", amount=Decimal("1000000"),
                unallocated=Decimal("0"), received_at=late - timedelta(hours=12)),
    ]  # fmt: skip
    payments = stored + made_up
    got = patient_payment_items(payments)
    assert got == _old(OLD_PAYMENT_ITEMS, payments=payments)
    assert "&lt;OR&gt;&amp;1" in got and "credit)" in got


def test_cashier_payment_rows_match_the_template(world):
    stored = list(Payment.objects.select_related("patient"))
    sly = Patient(first_name="<img src=x>", middle_name="&", last_name='O"Neil')
    made_up = []
    for i, hour in enumerate((0, 11, 12, 13, 23)):
        p = Payment(pk=7000 + i, receipt_number=f"OR-<{i}>", method="bank",
                    amount=Decimal("99.995"),
                    received_at=datetime(2026, 5, 4, hour, 7, tzinfo=UTC))  # fmt: skip
        p.patient = sly
        made_up.append(p)
    payments = stored + made_up
    got = cashier_payment_rows(payments)
    assert got == _old(OLD_CASHIER_ROWS, payments=payments)
    assert "&lt;img src=x&gt;" in got and "<img" not in got
    # The same tag draws a cashier day's page (a Page object iterates like the list).
    assert str(cashier_payment_rows(iter(payments))) == got


@pytest.mark.parametrize(
    "make",
    [
        lambda: forms.CloseDayForm(),
        lambda: forms.CloseDayForm({"counted_cash": "-1", "counted_card": "x", "note": '<"n">'}),
        lambda: forms.PeriodForm(),
        lambda: forms.PeriodForm({"date_from": "2026-13-01", "date_to": "<x>"}),
        lambda: forms.ReasonForm(prefix="void"),
        lambda: forms.CreditNoteForm(
            {"credit-amount": "1e9", "credit-reason": ""}, prefix="credit"
        ),
        lambda: forms.InvoiceFilterForm(),
        lambda: forms.InvoiceFilterForm(
            {"status": "open", "q": '<"x">&', "date_from": "2026-02-30", "date_to": "2026-01-01"}
        ),
        # Hidden and multiple-checkbox fields go through the template.
        lambda: forms.PaymentForm(initial={"idempotency_key": "k<1>"}),
    ],
)
def test_fields_match_the_field_tag(make):
    form = make()
    form.is_bound and form.is_valid()
    assert fields(form) == _old(OLD_FIELDS, form=form)


def test_fast_widgets_draw_what_djangos_widgets_draw():
    fast_widgets = [
        forms.DATE,
        forms.money_field("x").widget,  # its attrs as the field set them (min, step)
        forms.ReasonForm().fields["reason"].widget,
        forms.CloseDayForm().fields["note"].widget,
    ]
    for fast in fast_widgets:
        plain_class = next(c for c in type(fast).__mro__[1:] if c.__module__.startswith("django"))
        plain = plain_class(attrs={**fast.attrs, "type": fast.input_type})
        plain.format = getattr(fast, "format", None)
        for value in (None, "", "12.50", '<"a"&>', date(2026, 2, 3), Decimal("1.10")):
            attrs = {"id": "id_x", "required": True, "maxlength": "200", "disabled": False}
            assert fast.render("x", value, attrs) == plain.render("x", value, attrs)


def test_invoice_history_is_the_querysets_it_replaced(world, billing_user, admin_user):
    emp_inv = world["emp_invoice"]  # a claim and a pending write-off
    inv = world["invoice"]  # an allocation
    invoice_services.credit_note_create(
        actor=billing_user, invoice=inv, amount=Decimal("10"), reason="<Goodwill>"
    )
    invoice_services.credit_note_create(
        actor=billing_user, invoice=inv, amount=Decimal("5"), reason="Again"
    )
    invoice_services.writeoff_decide(actor=admin_user, writeoff=world["writeoff"], approve=False)
    invoice_services.writeoff_request(actor=billing_user, invoice=emp_inv, reason="Second ask")
    for invoice in (emp_inv, inv, world["draft"], issued_invoice(world["other"], billing_user)):
        history = screens.invoice_history(invoice)
        allocations = list(invoice.allocations.select_related("payment"))
        assert [(a.pk, a.payment_id, a.amount, a.created_at) for a in history.allocations] == [
            (a.pk, a.payment_id, a.amount, a.created_at) for a in allocations
        ]
        assert [(a.payment.receipt_number, a.payment.get_method_display()) for a in history.allocations] == [
            (a.payment.receipt_number, a.payment.get_method_display()) for a in allocations
        ]  # fmt: skip
        assert [(c.pk, c.number, c.amount, c.reason, c.created_at) for c in history.credit_notes] == [
            (c.pk, c.number, c.amount, c.reason, c.created_at) for c in invoice.credit_notes.all()
        ]  # fmt: skip
        assert [
            (w.pk, w.status, w.get_status_display(), w.amount, w.reason, w.requested_at)
            for w in history.write_offs
        ] == [
            (w.pk, w.status, w.get_status_display(), w.amount, w.reason, w.requested_at)
            for w in invoice.write_offs.all()
        ]
        claims = list(
            {
                x.claim_line.claim
                for x in InvoiceLine.objects.filter(
                    invoice=invoice, claim_line__isnull=False
                ).select_related("claim_line__claim")
            }
        )
        assert [(c.pk, c.number, c.get_status_display()) for c in history.claims] == [
            (c.pk, c.number, c.get_status_display()) for c in claims
        ]
    assert len(screens.invoice_history(inv).credit_notes) == 2
    assert len(screens.invoice_history(inv).allocations) == 1
    emp_history = screens.invoice_history(emp_inv)
    assert len(emp_history.claims) == 1
    assert {w.status for w in emp_history.write_offs} == {
        ApprovalStatus.REJECTED,
        ApprovalStatus.REQUESTED,
    }
    assert Allocation.objects.exists() and WriteOff.objects.count() == 2


def test_invoice_page_lists_history_escaped_and_builds_only_the_forms_it_shows(
    world, billing_user, client_for
):
    inv = world["invoice"]
    invoice_services.credit_note_create(
        actor=billing_user, invoice=inv, amount=Decimal("10"), reason="<script>x</script>"
    )
    c = client_for(billing_user)
    page = c.get(f"/billing/invoices/{inv.pk}/")
    html = page.content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert world["payment"].receipt_number in html and "GCash" in html
    assert 'name="credit-amount"' in html and 'name="writeoff-reason"' in html
    assert 'name="void-reason"' not in html  # partly paid: no longer voidable
    fresh = issued_invoice(PatientFactory(), billing_user)
    issued = c.get(f"/billing/invoices/{fresh.pk}/").content.decode()
    assert 'name="void-reason"' in issued
    assert page.context["terms_form"] is None and page.context["line_form"] is None
    draft = c.get(f"/billing/invoices/{world['draft'].pk}/")
    assert draft.context["credit_form"] is None and draft.context["void_form"] is None
    assert 'name="statutory_id_number"' in draft.content.decode()
    emp = c.get(f"/billing/invoices/{world['emp_invoice'].pk}/").content.decode()
    assert world["claim"].number in emp and "write-off" in emp
    assert "Request write-off" not in emp  # one is pending already
    assert timezone.localdate()  # the page rendered in the clinic's zone


def test_patient_account_page_is_the_balance_and_the_count(world, billing_user):
    from billing import selectors

    empty = PatientFactory()
    issued_invoice(world["me"], billing_user, "LAB-UA")  # the draft, issued: two open
    for patient in (world["me"], world["other"], world["emp"], empty):
        account = screens.patient_account_page(patient.pk, None)
        assert account.balance == selectors.patient_balance(patient.pk)
        assert account.page.paginator.count == selectors.invoice_list(patient_id=patient.pk).count()
    account = screens.patient_account_page(world["me"].pk, None)
    assert account.balance.open_invoices == 2 and account.balance.owed > 0
    assert account.page.paginator.count == 2  # the draft, issued
    assert screens.patient_account_page(world["other"].pk, None).balance.credit > 0
    assert str(screens.patient_account_page(empty.pk, None).balance.owed) == "0.00"


def test_patient_account_page_pages_through_its_invoices(world, billing_user, client_for):
    for _ in range(26):
        issued_invoice(world["emp"], billing_user, "LAB-UA")
    c = client_for(billing_user)
    url = f"/billing/patients/{world['emp'].pk}/"
    first = c.get(url)
    assert first.context["page"].paginator.count == 27
    assert "Page 1 of 2" in first.content.decode()
    last = c.get(url, {"page": "9"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="patient-invoices")
    html = last.content.decode()
    assert html.startswith('\n<div id="patient-invoices"') and "Page 2 of 2" in html
    assert html.count("<tr>") == 1 + 2  # the header and the last two invoices


def test_cashier_rows_load_no_more_queries_per_payment(world, billing_user, client_for):
    """The cashier's rows are read with their patients' names only: twenty payments more
    mean no query more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.services import payments

    c = client_for(billing_user)
    c.get("/billing/cashier/")
    with CaptureQueriesContext(connection) as before:
        assert c.get("/billing/cashier/").status_code == 200
    for i in range(20):
        payments.payment_record(
            actor=billing_user,
            patient=world["emp"],
            amount=Decimal("1"),
            method="cash",
            idempotency_key=f"many-{i}",
        )
    with CaptureQueriesContext(connection) as after:
        page = c.get("/billing/cashier/")
    assert len(after.captured_queries) == len(before.captured_queries)
    html = page.content.decode()
    assert html.count(world["emp"].full_name) >= 20


def _values(obj) -> dict | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_invoice_page_reads_are_the_lines_and_history_querysets(world, billing_user):
    from billing import selectors
    from tests.billing.conftest import hmo_coverage

    voided = issued_invoice(PatientFactory(), billing_user, "LAB-CBC", "LAB-UA")
    invoice_services.invoice_void(actor=billing_user, invoice=voided, reason="Wrong patient")
    covered = PatientFactory(patient_type="employee")
    hmo_coverage(covered, percent="50")
    with_payer = issued_invoice(covered, billing_user, "LAB-CBC")
    invoices = [world["invoice"], world["draft"], world["emp_invoice"], voided, with_payer]
    for invoice in invoices:
        invoice.refresh_from_db()
        lines, history = screens.invoice_page_reads(invoice)
        expected = selectors.invoice_lines(invoice)
        assert [_values(x) for x in lines] == [_values(x) for x in expected]
        for got, orm in zip(lines, expected, strict=True):
            assert _values(got.service) == _values(orm.service)
            assert _values(got.provider) == _values(orm.provider)
            assert _values(got.coverage) == _values(orm.coverage)
            if orm.coverage is not None:
                assert _values(got.coverage.payer) == _values(orm.coverage.payer)
        alone = screens.invoice_history(invoice)
        assert [_values(a) for a in history.allocations] == [_values(a) for a in alone.allocations]
        assert [c.pk for c in history.claims] == [c.pk for c in alone.claims]
    assert screens.invoice_page_reads(voided)[0]  # a void invoice shows its voided lines
    assert any(x.coverage is not None for x in screens.invoice_page_reads(with_payer)[0])
    assert any(x.coverage is None for x in screens.invoice_page_reads(world["invoice"])[0])


def test_invoice_with_parties_is_the_select_related_get(
    world, billing_user, django_assert_num_queries
):
    from billing.reads import invoice_with_parties
    from tests.billing.conftest import hmo_coverage

    voided = issued_invoice(PatientFactory(middle_name="<Q>"), billing_user, "LAB-CBC")
    invoice_services.invoice_void(actor=billing_user, invoice=voided, reason="Wrong <b>")
    covered = PatientFactory(patient_type="employee")
    hmo_coverage(covered, percent="50")
    with_payer = issued_invoice(covered, billing_user, "LAB-CBC")
    for invoice in (world["invoice"], world["draft"], world["emp_invoice"], voided, with_payer):
        orm = Invoice.objects.select_related(
            "patient", "issued_by", "voided_by", "coverage__payer"
        ).get(pk=invoice.pk)
        for pk in (invoice.pk, str(invoice.pk)):
            got = invoice_with_parties(pk)
            assert _values(got) == _values(orm)
            for name in ("patient", "issued_by", "voided_by", "coverage"):
                assert _values(getattr(got, name)) == _values(getattr(orm, name)), name
            assert orm.coverage is None or _values(got.coverage.payer) == _values(
                orm.coverage.payer
            )
    assert invoice_with_parties(voided.pk).voided_by == billing_user
    assert invoice_with_parties(with_payer.pk).coverage.payer.name
    assert invoice_with_parties(world["draft"].pk).issued_by is None
    for missing in (10**9, 10**20, -1, None):
        with pytest.raises(Invoice.DoesNotExist):
            invoice_with_parties(missing)
    for bad in ("abc", "1e3", [1], object()):  # the ORM's own exception, whatever it is
        with pytest.raises((ValueError, TypeError)) as orm_error:
            Invoice.objects.get(pk=bad)
        with pytest.raises(orm_error.type):
            invoice_with_parties(bad)
    from billing.reads import _INVOICE_WITH_PARTIES

    assert _INVOICE_WITH_PARTIES.statement(with_payer.pk) is not None  # not the ORM fallback
    with django_assert_num_queries(1):  # compiled once: one statement, the relations loaded
        got = invoice_with_parties(with_payer.pk)
        assert got.coverage.payer.name and got.patient.pk and got.voided_by is None


def test_invoice_page_for_odd_ids_is_404(world, billing_user, client_for):
    from django.http import Http404

    from billing import selectors

    for pk in ("abc", "1e3", 10**9, -1):
        with pytest.raises(Http404):
            selectors.get_invoice_for_user(billing_user, pk, purpose=None)
    assert client_for(billing_user).get("/billing/invoices/999999999/").status_code == 404


# billing/invoice.html's lines and history before they moved to billing_rows (the draft
# test stood for ``editable``: a draft, shown to someone who manages billing).
OLD_LINE_ROWS = (
    "{% load uscpis %}"
    """{% for line in lines %}<tr>
    <td>{{ line.description }}<div class="muted small">{{ line.service.name }}{% if line.covered_by_fee %} · covered by the term's health fee{% endif %}{% if line.covered_by_capitation %} · PhilHealth Konsulta: covered by the capitation{% endif %}{% if line.price_override_reason %} · price changed: {{ line.price_override_reason }}{% endif %}{% if line.provider %} · {{ line.provider.full_name }}{% endif %}</div></td>
    <td class="num">{{ line.quantity.normalize }}</td><td class="num">{{ line.unit_price|money }}</td>
    <td class="num">{% if line.total_discount %}−{{ line.total_discount|money }}{% else %}—{% endif %}</td>
    <td class="num">{{ line.net|money }}</td><td class="num">{{ line.payer_share|money }}</td><td class="num">{{ line.patient_share|money }}</td>
    {% if editable %}<td class="actions">
      <form class="inline-form" hx-post="{% url 'billing:invoice_line_action' invoice.pk line.pk 'price' %}" hx-target="#invoice-lines" hx-swap="outerHTML" method="post" action="{% url 'billing:invoice_line_action' invoice.pk line.pk 'price' %}">{% csrf_token %}<input type="number" name="unit_price" step="0.01" min="0" placeholder="New price" aria-label="New price" required><input type="text" name="reason" placeholder="Reason" aria-label="Reason" maxlength="200" required><button class="button small secondary" type="submit" hx-disabled-elt="this">Change price</button></form>
      <button type="button" class="button small danger" hx-post="{% url 'billing:invoice_line_action' invoice.pk line.pk 'remove' %}" hx-target="#invoice-lines" hx-swap="outerHTML" hx-disabled-elt="this">Remove</button>
    </td>{% endif %}
  </tr>{% empty %}<tr><td colspan="8" class="empty">No lines.</td></tr>{% endfor %}"""
)  # fmt: skip
OLD_HISTORY_ITEMS = (
    "{% load uscpis %}"
    """{% for a in allocations %}<li>{{ a.created_at|date:"j M Y" }} · <a href="{% url 'billing:payment' a.payment_id %}">{{ a.payment.receipt_number }}</a> ({{ a.payment.get_method_display }}) · {{ a.amount|money }}</li>{% endfor %}
  {% for c in credit_notes %}<li>{{ c.created_at|date:"j M Y" }} · credit note {{ c.number }} · {{ c.amount|money }} · {{ c.reason }}</li>{% endfor %}
  {% for w in write_offs %}<li>{{ w.requested_at|date:"j M Y" }} · write-off {{ w.amount|money }} · {{ w.get_status_display }} · {{ w.reason }}</li>{% endfor %}"""
)  # fmt: skip
NEW_HISTORY_ITEMS = (
    "{% load billing_rows %}{% allocation_items allocations %}\n"
    "  {% credit_note_items credit_notes %}\n  {% write_off_items write_offs %}"
)


def test_invoice_line_rows_match_the_template(world, billing_user):
    from billing.models import Service
    from billing.templatetags.billing_rows import invoice_line_rows

    stored, _ = screens.invoice_page_reads(world["invoice"])
    draft_lines, _ = screens.invoice_page_reads(world["draft"])
    service = Service(name="<Lab> & 'X'")
    odd = [
        InvoiceLine(pk=6001, description='<script>"a"</script>', quantity=Decimal("10"),
                    unit_price=Decimal("1234.5"), discount=Decimal("20"),
                    vat_exemption=Decimal("0.5"), net=Decimal("-1"), payer_share=Decimal("0"),
                    patient_share=Decimal("99999.999"), covered_by_fee=True,
                    covered_by_capitation=True, price_override_reason="<why> & 'so'"),
        InvoiceLine(pk=6002, description="Plain", quantity=Decimal("0.250"),
                    unit_price=Decimal("0"), discount=Decimal("0"), vat_exemption=Decimal("0"),
                    net=Decimal("0"), payer_share=Decimal("0"), patient_share=Decimal("0")),
    ]  # fmt: skip
    for line in odd:
        line.service = service
        line.provider = None
    odd[1].provider = billing_user
    invoice = Invoice(pk=5001)
    for lines in (stored, draft_lines, odd, []):
        for editable in (False, True):
            context = Context({"invoice": invoice, "lines": lines, "editable": editable})
            context["csrf_token"] = "tok<en>"
            got = invoice_line_rows(context, invoice, lines, editable)
            assert got == Template(OLD_LINE_ROWS).render(context), (lines, editable)
    context = Context({"csrf_token": "t"})
    got = invoice_line_rows(context, invoice, odd, True)
    assert "&lt;script&gt;" in got and "<script>" not in got and "1E+1" not in got
    assert 'value="t"' in got and "−₱20.50" in got
    assert invoice_line_rows(Context(), invoice, [], False) == (
        '<tr><td colspan="8" class="empty">No lines.</td></tr>'
    )


def test_invoice_history_items_match_the_template(world, billing_user, admin_user):
    from billing.models import CreditNote

    invoice_services.credit_note_create(
        actor=billing_user, invoice=world["invoice"], amount=Decimal("10"), reason="<Goodwill>"
    )
    invoice_services.writeoff_decide(actor=admin_user, writeoff=world["writeoff"], approve=False)
    late = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # the next day in Manila
    odd_payment = Payment(pk=4001, receipt_number="<OR>&1", method="odd")
    odd_allocation = Allocation(pk=4002, payment_id=4001, amount=Decimal("5.5"), created_at=late)
    odd_allocation.payment = odd_payment
    odd_note = CreditNote(pk=4003, number="<CN>", amount=Decimal("1"), reason="&", created_at=late)
    odd_writeoff = WriteOff(
        pk=4004, status="<odd>", amount=Decimal("2"), reason="'r'", requested_at=late
    )
    for invoice in (world["invoice"], world["emp_invoice"], world["draft"]):
        history = screens.invoice_history(invoice)
        for extra in (False, True):
            context = {
                "allocations": history.allocations + ([odd_allocation] if extra else []),
                "credit_notes": history.credit_notes + ([odd_note] if extra else []),
                "write_offs": history.write_offs + ([odd_writeoff] if extra else []),
            }
            got = Template(NEW_HISTORY_ITEMS).render(Context(context))
            assert got == Template(OLD_HISTORY_ITEMS).render(Context(context))
    assert "&lt;OR&gt;&amp;1" in got and "&lt;odd&gt;" in got and "&#x27;r&#x27;" in got
