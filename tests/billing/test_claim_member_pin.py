"""Claim exports show the coverage's member ID; a PhilHealth claim whose coverage has none
shows the PhilHealth PIN on the patient's record instead (formatted as on the ID)."""

from billing.models import Claim, Coverage, Payer, PayerKind
from billing.selectors import claim_member_id
from patients.models import Patient


def _claim(kind: str, member_id: str, pin: str | None) -> Claim:
    return Claim(
        payer=Payer(kind=kind),
        coverage=Coverage(member_id=member_id),
        patient=Patient(philhealth_pin=pin),
    )


def test_coverage_member_id_wins():
    assert claim_member_id(_claim(PayerKind.PHILHEALTH, "12-000000001-1", "123456789012")) == (
        "12-000000001-1"
    )


def test_philhealth_claim_without_member_id_uses_the_patients_pin():
    assert claim_member_id(_claim(PayerKind.PHILHEALTH, " ", "123456789012")) == "12-345678901-2"


def test_other_payers_never_borrow_the_pin():
    assert claim_member_id(_claim(PayerKind.HMO, "", "123456789012")) == ""
    assert claim_member_id(_claim(PayerKind.PHILHEALTH, "", None)) == ""
