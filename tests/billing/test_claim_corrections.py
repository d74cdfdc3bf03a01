"""Correct and resubmit: a denied or partially paid claim's lines can be corrected (amount,
ICD-10 code, service, with a reason), each change kept with who/when/what; then resubmitted.
Draft, submitted and accepted claims cannot be corrected."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from billing import selectors
from billing.models import ClaimLineChange, ClaimStatus, Payer, Service
from billing.services import claims
from patients.models import Icd10Code
from tests.billing.conftest import hmo_coverage, issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def icd(db):
    return Icd10Code.objects.get_or_create(
        code="J06.9", defaults={"title": "Acute upper respiratory infection, unspecified"}
    )[0]


@pytest.fixture
def claim(employee, billing_user):
    hmo_coverage(employee, percent="100")
    inv = issued_invoice(employee, billing_user, "LAB-CBC", "LAB-UA", day=timezone.localdate())
    return claims.claim_create(actor=billing_user, invoice=inv)


def _move(claim, actor, to, **kw):
    return claims.claim_transition(actor=actor, claim=claim, to_status=to, **kw)


def _deny(claim, actor):
    _move(claim, actor, ClaimStatus.SUBMITTED)
    return _move(claim, actor, ClaimStatus.DENIED, denial_code="not_covered", note="Wrong code")


def _correct(line, actor, **kw):
    args = {"amount": line.amount, "reason": "Corrected after denial"} | kw
    return claims.claim_line_correct(actor=actor, line=line, **args)


def test_only_denied_or_partially_paid_claims_are_corrected(claim, billing_user):
    line = claim.lines.first()
    with pytest.raises(ValidationError, match="draft claim can't be changed"):
        _correct(line, billing_user, amount="50")
    _move(claim, billing_user, ClaimStatus.SUBMITTED)
    with pytest.raises(ValidationError, match="submitted claim can't be changed"):
        _correct(line, billing_user, amount="50")
    _move(claim, billing_user, ClaimStatus.ACCEPTED)
    with pytest.raises(ValidationError, match="accepted claim can't be changed"):
        _correct(line, billing_user, amount="50")
    line.refresh_from_db()
    assert line.amount == Decimal("125.00") and not ClaimLineChange.objects.exists()


def test_correct_then_resubmit_keeps_the_history(claim, billing_user, icd):
    _deny(claim, billing_user)
    cbc, ua = claim.lines.order_by("pk")
    consult = Service.objects.get(code="CONSULT")
    _correct(cbc, billing_user, amount="100.00", icd10_code="j06.9", reason="Payer schedule")
    _correct(ua, billing_user, service=consult, reason="Billed as a consultation")
    claim.refresh_from_db()
    assert claim.total == Decimal("150.00")  # 100 + 50
    changes = list(ClaimLineChange.objects.order_by("pk"))
    assert [(c.line_id, c.field, c.old_value, c.new_value) for c in changes] == [
        (cbc.pk, "amount", "125.00", "100.00"),
        (cbc.pk, "icd10", "", "J06.9"),
        (ua.pk, "service", "Urinalysis", consult.name),
    ]
    assert all(c.actor == billing_user and c.submission == 1 and c.reason for c in changes)
    assert changes[0].reason == "Payer schedule" and changes[2].reason == "Billed as a consultation"
    assert AuditEvent.objects.filter(
        object_type="billing.claim", object_id=str(claim.pk), detail__reason="Payer schedule"
    ).exists()
    claim = _move(claim, billing_user, ClaimStatus.SUBMITTED, note="Resubmitted")
    assert claim.status == ClaimStatus.SUBMITTED and claim.submissions == 2
    notes = [e.note for e in claim.events.all()]
    assert any(n.startswith("Line corrected: Amount 125.00 → 100.00") for n in notes)
    with pytest.raises(ValidationError):  # with the payer again: immutable
        _correct(cbc, billing_user, amount="90")
    row = selectors.claim_rows([claim])[0]
    assert row["icd10"] == "J06.9" and consult.name in row["services"]
    assert row["amount"] == Decimal("150.00")


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "125.01"}, "amount"),  # above the payer's share invoiced
        ({"icd10_code": "ZZZ.9"}, "icd10"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_bad_corrections_are_refused(claim, billing_user, icd, kw, field):
    _deny(claim, billing_user)
    line = claim.lines.order_by("pk").first()
    with pytest.raises(ValidationError) as exc:
        _correct(line, billing_user, **kw)
    assert field in exc.value.message_dict
    assert not ClaimLineChange.objects.exists()


def test_nothing_changed_is_refused(claim, billing_user):
    _deny(claim, billing_user)
    with pytest.raises(ValidationError, match="Nothing was changed"):
        _correct(claim.lines.first(), billing_user)


def test_partially_paid_claim_corrected_for_the_rest_and_resubmitted(claim, billing_user):
    _move(claim, billing_user, ClaimStatus.SUBMITTED)
    claims.remittance_post(
        actor=billing_user,
        payer=Payer.objects.get(code="maxicare"),
        reference="R1",
        received_on=timezone.localdate(),
        amount="125",
        items=[claims.RemittanceItem(claim=claim, paid=Decimal("125"))],
    )
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PARTIALLY_PAID and claim.outstanding == Decimal("50.00")
    cbc, ua = claim.lines.order_by("pk")
    with pytest.raises(ValidationError) as exc:  # the total can't drop below what was paid
        _correct(cbc, billing_user, amount="10")
    assert "settled" in str(exc.value)
    _correct(ua, billing_user, amount="40")
    claim = _move(claim, billing_user, ClaimStatus.SUBMITTED)
    assert claim.outstanding == Decimal("40.00") and claim.submissions == 2


def test_correction_through_the_claim_page(claim, billing_user, client_for, icd):
    _deny(claim, billing_user)
    line = claim.lines.order_by("pk").first()
    c = client_for(billing_user)
    url = reverse("billing:claim_line_correct", args=[claim.pk, line.pk])
    page = c.get(reverse("billing:claim", args=[claim.pk])).content.decode()
    assert "Correct line #" in page and url in page
    bad = c.post(url, {f"line{line.pk}-amount": "90", f"line{line.pk}-reason": ""})
    assert bad.status_code == 422 and "This field is required" in bad.content.decode()
    r = c.post(
        url,
        {
            f"line{line.pk}-amount": "90",
            f"line{line.pk}-icd10": "J06.9",
            f"line{line.pk}-reason": "<script>x</script>",
        },
    )
    assert r.status_code == 302
    page = c.get(reverse("billing:claim", args=[claim.pk])).content.decode()
    assert "Corrections" in page and "125.00 → 90.00" in page and "J06.9" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    # A line that is not this claim's is a 404 (the lookup is scoped to the claim).
    assert (
        c.post(reverse("billing:claim_line_correct", args=[claim.pk, 999999]), {}).status_code
        == 404
    )
