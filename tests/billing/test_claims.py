"""Claims from the payer's share: LOA rule, lifecycle, denial and resubmission, remittance
posting across claims with adjustments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import ClaimStatus, InvoiceStatus, Payer
from billing.services import claims
from tests.billing.conftest import hmo_coverage, issued_invoice

pytestmark = pytest.mark.django_db


def test_claim_lifecycle_with_denial_resubmission_and_remittance(employee, billing_user):
    hmo_coverage(employee, percent="100")
    inv1 = issued_invoice(employee, billing_user, "LAB-CBC", day=timezone.localdate())
    claim1 = claims.claim_create(actor=billing_user, invoice=inv1)
    assert claim1.total == Decimal("125.00") and claim1.number.startswith("CLM-")
    claims.claim_transition(actor=billing_user, claim=claim1, to_status=ClaimStatus.SUBMITTED)
    with pytest.raises(ValidationError):
        claims.claim_transition(actor=billing_user, claim=claim1, to_status=ClaimStatus.DENIED)
    claims.claim_transition(
        actor=billing_user,
        claim=claim1,
        to_status=ClaimStatus.DENIED,
        denial_code="incomplete",
        note="Missing CSF",
    )
    claim1 = claims.claim_transition(
        actor=billing_user, claim=claim1, to_status=ClaimStatus.SUBMITTED
    )
    assert claim1.submissions == 2 and claim1.denial_code == ""
    assert [e.to_status for e in claim1.events.all()] == [
        "draft",
        "submitted",
        "denied",
        "submitted",
    ]

    inv2 = issued_invoice(employee, billing_user, "LAB-UA", day=timezone.localdate())
    claim2 = claims.claim_create(actor=billing_user, invoice=inv2)
    claims.claim_transition(actor=billing_user, claim=claim2, to_status=ClaimStatus.SUBMITTED)
    payer = Payer.objects.get(code="maxicare")
    with pytest.raises(ValidationError):  # paid amounts must add up
        claims.remittance_post(
            actor=billing_user,
            payer=payer,
            reference="R1",
            received_on=timezone.localdate(),
            amount="100",
            items=[claims.RemittanceItem(claim=claim1, paid=Decimal("50"))],
        )
    claims.remittance_post(
        actor=billing_user,
        payer=payer,
        reference="R1",
        received_on=timezone.localdate(),
        amount="130",
        items=[
            claims.RemittanceItem(
                claim=claim1,
                paid=Decimal("100"),
                adjustment=Decimal("5"),
                patient_responsibility=Decimal("20"),
            ),
            claims.RemittanceItem(claim=claim2, paid=Decimal("30")),
        ],
    )
    claim1.refresh_from_db()
    claim2.refresh_from_db()
    inv1.refresh_from_db()
    assert claim1.status == ClaimStatus.PAID and claim1.outstanding == 0
    assert claim2.status == ClaimStatus.PARTIALLY_PAID and claim2.outstanding == Decimal("20.00")
    assert inv1.balance == Decimal("20.00") and inv1.status == InvoiceStatus.ISSUED


def test_hmo_claim_is_blocked_without_a_valid_loa(employee, billing_user):
    hmo_coverage(employee, loa="LOA-7", loa_issued_on=timezone.localdate() - timedelta(days=10))
    inv = issued_invoice(employee, billing_user)
    claim = claims.claim_create(actor=billing_user, invoice=inv)
    with pytest.raises(ValidationError, match="not valid"):
        claims.claim_transition(actor=billing_user, claim=claim, to_status=ClaimStatus.SUBMITTED)


def test_a_line_is_claimed_once(employee, billing_user):
    hmo_coverage(employee)
    inv = issued_invoice(employee, billing_user)
    claims.claim_create(actor=billing_user, invoice=inv)
    with pytest.raises(ValidationError):
        claims.claim_create(actor=billing_user, invoice=inv)
