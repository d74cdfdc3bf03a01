"""Billing and analytics through the API: invoices, payments (Idempotency-Key required, a
retry takes no money twice), claims, balance; patients see only their own; KPIs."""

from __future__ import annotations

import pytest

from billing.models import Payment

pytestmark = pytest.mark.django_db


def test_payment_needs_a_key_and_a_retry_takes_money_once(world, api_client, billing_user):
    client = api_client(billing_user)
    body = {"patient": world.patient.pk, "amount": "100.00", "method": "cash"}
    r = client.post("/api/v1/billing/payments/", body, format="json")
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]
    before = Payment.objects.count()
    r1 = client.post("/api/v1/billing/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert r1.status_code == 201, r1.content
    r2 = client.post("/api/v1/billing/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert r2.json() == r1.json()
    assert Payment.objects.count() == before + 1
    balance = client.get(f"/api/v1/billing/balance/{world.patient.pk}/").json()
    invoice = client.get(f"/api/v1/billing/invoices/{world.invoice.pk}/").json()
    assert invoice["amount_paid"] == "100.00" and invoice["lines"]
    assert balance["owed"] == invoice["balance"]


def test_patients_see_only_their_own_bills(world, api_client, patient_user):
    client = api_client(patient_user)
    ids = [i["id"] for i in client.get("/api/v1/billing/invoices/").json()["results"]]
    assert ids == [world.invoice.pk]
    assert client.get(f"/api/v1/billing/invoices/{world.other_invoice.pk}/").status_code == 404
    assert client.get(f"/api/v1/billing/balance/{world.other.pk}/").status_code == 404
    assert client.get(f"/api/v1/billing/balance/{world.patient.pk}/").status_code == 200
    assert client.get("/api/v1/billing/claims/").status_code == 403


def test_claims_list(world, api_client, billing_user):
    claims = api_client(billing_user).get("/api/v1/billing/claims/?status=draft").json()["results"]
    assert [c["id"] for c in claims] == [world.claim.pk]


def test_kpis(world, api_client, doctor_user, nurse_user):
    r = api_client(doctor_user).get("/api/v1/analytics/kpis/")
    assert r.status_code == 200
    labels = [k["label"] for k in r.json()["results"]]
    assert "Visits today" in labels and "No-show rate" in labels
    assert (
        api_client(doctor_user)
        .get("/api/v1/analytics/kpis/?date_from=2026-12-01&date_to=2026-01-01")
        .status_code
        == 400
    )
    assert api_client(nurse_user).get("/api/v1/analytics/kpis/").status_code == 403
