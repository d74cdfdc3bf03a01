"""Permission matrix over every billing view (allowed / 403 / anonymous → login), other
patients' documents 404 in the portal, pages render the data, query counts pinned."""

import pytest
from django.urls import reverse

from accounts.roles import Role

pytestmark = pytest.mark.django_db

CLERK = {Role.BILLING_CLERK}
VIEWERS = {Role.BILLING_CLERK, Role.ADMIN}
CLINICIANS = {Role.DOCTOR, Role.DENTIST, Role.NURSE}

# url name, kwargs (names of world objects), allowed roles
GET_VIEWS = [
    ("billing:home", {}, VIEWERS),
    ("billing:charges", {}, VIEWERS),
    ("billing:invoices", {}, VIEWERS),
    ("billing:void_register", {}, VIEWERS),
    ("billing:invoice", {"pk": "invoice"}, VIEWERS),
    ("billing:invoice_pdf", {"pk": "invoice"}, VIEWERS),
    ("billing:patient", {"patient_pk": "me"}, VIEWERS),
    ("billing:patient_balance", {"patient_pk": "me"}, CLINICIANS),
    ("billing:coverage_new", {"patient_pk": "me"}, CLERK),
    ("billing:statement", {"patient_pk": "me"}, VIEWERS),
    ("billing:payment_new", {"patient_pk": "me"}, CLERK),
    ("billing:payment", {"pk": "payment"}, VIEWERS),
    ("billing:receipt_pdf", {"pk": "payment"}, VIEWERS),
    ("billing:cashier", {}, CLERK),
    ("billing:cashier_day", {"pk": "day"}, VIEWERS),
    ("billing:approvals", {}, {Role.ADMIN}),
    ("billing:claims", {}, VIEWERS),
    ("billing:remittance_new", {}, CLERK),
    ("billing:claim", {"pk": "claim"}, VIEWERS),
    ("billing:reports", {}, VIEWERS),
    ("billing:konsulta", {}, VIEWERS),
    ("billing:price_lists", {}, VIEWERS),
    ("billing:price_edit", {"pk": "price"}, {Role.ADMIN}),
    ("billing:price_list_copy", {"pk": "price_list"}, {Role.ADMIN}),
    ("billing:payer_new", {}, {Role.ADMIN}),
    ("billing:payer_edit", {"pk": "payer"}, {Role.ADMIN}),
    ("billing:my_bills", {}, {Role.PATIENT}),
    ("billing:my_invoice_pdf", {"pk": "invoice"}, {Role.PATIENT}),
    ("billing:my_receipt_pdf", {"pk": "payment"}, {Role.PATIENT}),
    ("billing:my_statement_pdf", {}, {Role.PATIENT}),
]

# url name, kwargs, data, allowed roles: allowed roles get a redirect or a page, never 403
POST_VIEWS = [
    ("billing:charge_action", {"pk": "charge", "action": "bill"}, {}, CLERK),
    ("billing:invoice_add_line", {"pk": "draft"}, {"service": "", "quantity": "1"}, CLERK),
    (
        "billing:invoice_line_action",
        {"pk": "draft", "line_pk": "line", "action": "price"},
        {"unit_price": "10", "reason": "promo"},
        CLERK,
    ),
    ("billing:invoice_terms", {"pk": "draft"}, {"statutory_discount": ""}, CLERK),
    ("billing:invoice_action", {"pk": "draft", "action": "issue"}, {}, CLERK),
    ("billing:refund_request", {"pk": "payment"}, {"amount": "1", "reason": "x"}, CLERK),
    (
        "billing:approval_decide",
        {"kind": "refund", "pk": "refund"},
        {"decision": "reject"},
        {Role.ADMIN},
    ),
    ("billing:claim_action", {"pk": "claim"}, {"to_status": "accepted"}, CLERK),
    (
        "billing:claim_line_correct",
        {"pk": "claim", "line_pk": "claim_line"},
        {"amount": "1", "reason": "x"},
        CLERK,
    ),
    ("billing:konsulta_register", {}, {"id_number": ""}, VIEWERS),
    ("billing:konsulta_capitation", {}, {"reference": ""}, VIEWERS),
    ("billing:coverage_new", {"patient_pk": "me"}, {"member_id": ""}, CLERK),
    ("billing:payer_new", {}, {"code": "", "name": ""}, {Role.ADMIN}),
    (
        "billing:price_edit",
        {"pk": "price"},
        {"amount": "160", "covered_per_term": "3"},
        {Role.ADMIN},
    ),
    ("billing:cashier", {}, {"action": "open", "opening_float": "100"}, CLERK),
    ("billing:remittance_new", {}, {"payer": "", "reference": ""}, CLERK),
]


def _url(name, kwargs, world):
    return reverse(name, kwargs={k: (world[v].pk if v in world else v) for k, v in kwargs.items()})


@pytest.mark.parametrize("name,kwargs,allowed", GET_VIEWS, ids=[v[0] for v in GET_VIEWS])
def test_get_matrix(name, kwargs, allowed, world, user_for_role, client_for, client):
    url = _url(name, kwargs, world)
    anon = client.get(url)
    assert anon.status_code == 302 and "/login/" in anon["Location"]
    for role in Role.values:
        response = client_for(user_for_role(role)).get(url)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, url, response.status_code)


@pytest.mark.parametrize("name,kwargs,data,allowed", POST_VIEWS, ids=[v[0] for v in POST_VIEWS])
def test_post_matrix(name, kwargs, data, allowed, world, user_for_role, client_for, client):
    url = _url(name, kwargs, world)
    anon = client.post(url, data)
    assert anon.status_code == 302 and "/login/" in anon["Location"]
    for role in Role.values:
        if role in allowed:
            continue
        assert client_for(user_for_role(role)).post(url, data).status_code == 403, role
    for role in allowed:
        assert client_for(user_for_role(role)).post(url, data).status_code in (200, 302, 422), role


@pytest.mark.parametrize(
    "name,key",
    [
        ("billing:my_invoice_pdf", "other_invoice"),
        ("billing:my_receipt_pdf", "other_payment"),
        ("billing:my_invoice_pdf", "draft"),
    ],
)
def test_portal_other_patients_documents_are_404(name, key, world, patient_user, client_for):
    response = client_for(patient_user).get(reverse(name, args=[world[key].pk]))
    assert response.status_code == 404


def test_unknown_objects_are_404_for_staff(world, billing_user, client_for):
    c = client_for(billing_user)
    assert c.get(reverse("billing:invoice", args=[999999])).status_code == 404
    assert c.get(reverse("billing:patient", args=[999999])).status_code == 404


def test_my_bills_shows_own_balance_receipt_and_nothing_of_others(world, patient_user, client_for):
    page = client_for(patient_user).get(reverse("billing:my_bills")).content.decode()
    assert world["invoice"].number in page and world["payment"].receipt_number in page
    assert "₱250.00" in page  # 350 − 100 paid
    assert world["other_invoice"].number not in page


def test_invoice_page_shows_lines_and_balance(world, billing_user, client_for):
    page = (
        client_for(billing_user)
        .get(reverse("billing:invoice", args=[world["invoice"].pk]))
        .content.decode()
    )
    assert "Complete blood count" in page and "Urinalysis" in page and "₱250.00" in page


def test_htmx_invoice_list_returns_only_the_table(world, billing_user, client_for):
    response = client_for(billing_user).get(
        reverse("billing:invoices") + "?status=open",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="invoice-table",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="invoice-table"') and "<html" not in body


def test_payment_form_double_submit_records_one(world, billing_user, client_for):
    from billing.models import Payment

    c = client_for(billing_user)
    url = reverse("billing:payment_new", args=[world["me"].pk])
    data = {"amount": "50", "method": "cash", "idempotency_key": "form-abc"}
    first, second = c.post(url, data), c.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Payment.objects.filter(idempotency_key="form-abc").count() == 1


def test_reports_render_and_export_csv(world, billing_user, client_for):
    from billing.selectors import REPORTS

    c = client_for(billing_user)
    for key in REPORTS:
        assert c.get(reverse("billing:reports"), {"report": key}).status_code == 200, key
        csv = c.get(reverse("billing:reports"), {"report": key, "export": "csv"})
        assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv"), key
    ar = c.get(reverse("billing:reports"), {"report": "ar_patient", "export": "csv"})
    body = b"".join(ar.streaming_content).decode()
    assert "31–60" in body and world["me"].id_number in body


def test_claim_export_csv_carries_claim_form_fields(world, billing_user, client_for):
    c = client_for(billing_user)
    params = {"payer": world["payer"].pk}
    csv = c.get(reverse("billing:claim_export"), {**params, "format": "csv"})
    body = b"".join(csv.streaming_content).decode()
    assert "member_id" in body and world["claim"].number in body and "MX-1001" in body
    pdf = c.get(reverse("billing:claim_export"), {**params, "format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_bad_input_is_a_form_error_not_a_500(world, billing_user, client_for):
    c = client_for(billing_user)
    r = c.post(
        reverse("billing:payment_new", args=[world["me"].pk]),
        {"amount": "-5", "method": "bitcoin", "idempotency_key": "x"},
    )
    assert r.status_code == 422
    r = c.post(
        reverse("billing:remittance_new"),
        {
            "payer": world["payer"].pk,
            "reference": "R9",
            "received_on": "2026-01-01",
            "amount": "10",
            f"paid_{world['claim'].pk}": "abc",
        },
    )
    assert r.status_code == 422
    assert c.get(reverse("billing:reports"), {"report": "nope"}).status_code == 404


@pytest.mark.parametrize(
    "name,kwargs,limit",
    [
        ("billing:invoices", {}, 12),
        ("billing:invoice", {"pk": "invoice"}, 22),
        ("billing:patient", {"patient_pk": "me"}, 16),
        ("billing:claims", {}, 12),
        ("billing:home", {}, 16),
        ("billing:cashier_day", {"pk": "day"}, 12),
    ],
)
def test_query_counts_are_pinned(
    name, kwargs, limit, world, billing_user, client_for, django_assert_max_num_queries
):
    from tests.billing.conftest import issued_invoice

    for _ in range(5):  # more rows must not mean more queries
        issued_invoice(world["me"], billing_user, "LAB-UA")
    c = client_for(billing_user)
    url = _url(name, kwargs, world)
    c.get(url)
    with django_assert_max_num_queries(limit):
        assert c.get(url).status_code == 200


def test_clinicians_see_the_balance_on_the_chart_read_only(
    world, doctor_user, billing_user, client_for
):
    chart = reverse("patients:chart", args=[world["me"].pk])
    page = client_for(doctor_user).get(chart).content.decode()
    assert "Balance ₱250.00" in page
    assert reverse("billing:patient_balance", args=[world["me"].pk]) in page
    assert f'href="{reverse("billing:patient", args=[world["me"].pk])}"' not in page
    clerk_page = client_for(billing_user).get(chart).content.decode()
    assert f'href="{reverse("billing:patient", args=[world["me"].pk])}"' in clerk_page


def test_billing_clerk_sees_demographics_only(world, billing_user, client_for):
    c = client_for(billing_user)
    assert (
        c.get(
            reverse("patients:chart_tab", kwargs={"pk": world["me"].pk, "tab": "timeline"})
        ).status_code
        == 403
    )


def test_dashboard_cards_for_clerk_admin_and_patient(world, billing_user, admin_user, patient_user):
    from billing.dashboard import cards

    clerk_titles = [c.title for c in cards(billing_user)]
    assert {
        "Unbilled charges",
        "Open invoices",
        "Collected today",
        "Claims awaiting action",
    } <= set(clerk_titles)
    assert "Billing approvals" in [
        c.title for c in cards(admin_user)
    ]  # a write-off and a refund wait
    mine = {c.title: c.value for c in cards(patient_user)}
    assert mine["My balance"] == "₱250.00"


def test_price_change_by_admin_is_audited_and_leaves_issued_invoices(world, admin_user, client_for):
    from accounts.models import AuditEvent

    inv = world["invoice"]
    before = inv.net_total
    response = client_for(admin_user).post(
        reverse("billing:price_edit", args=[world["price"].pk]),
        {"amount": "999", "covered_per_term": "0"},
    )
    assert response.status_code == 302
    inv.refresh_from_db()
    assert inv.net_total == before
    assert AuditEvent.objects.filter(object_type="billing.price", actor=admin_user).exists()


def test_invoice_corrections_through_the_page(world, billing_user, client_for):
    c = client_for(billing_user)
    inv = world["invoice"]
    url = lambda action: reverse("billing:invoice_action", args=[inv.pk, action])  # noqa: E731
    assert (
        c.post(url("credit"), {"credit-amount": "10", "credit-reason": "Goodwill"}).status_code
        == 302
    )
    inv.refresh_from_db()
    assert inv.credited == 10
    page = c.get(reverse("billing:invoice", args=[inv.pk])).content.decode()
    assert page.count('id="id_void-reason"') == 0  # partly paid: no void
    assert page.count('id="id_writeoff-reason"') == 1 and page.count('id="id_credit-reason"') == 1
    claimed = world["emp_invoice"]
    assert (
        c.post(
            reverse("billing:invoice_action", args=[claimed.pk, "void"]),
            {"void-reason": "Wrong patient"},
        ).status_code
        == 302
    )
    claimed.refresh_from_db()
    assert claimed.status != "void"  # it has a claim: refused with a message

    from tests.billing.conftest import issued_invoice

    fresh = issued_invoice(world["emp"], billing_user, "LAB-UA")  # no credit to absorb
    assert (
        c.post(
            reverse("billing:invoice_action", args=[fresh.pk, "void"]),
            {"void-reason": "Wrong patient"},
        ).status_code
        == 302
    )
    fresh.refresh_from_db()
    assert fresh.status == "void" and fresh.void_reason == "Wrong patient"
    assert fresh.number in c.get(reverse("billing:void_register")).content.decode()
