"""Allergies: most severe first everywhere, and the whole-word check on prescriptions."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients import selectors
from patients.exports import record
from patients.models import Allergy
from patients.services import visits
from tests.patients.factories import AllergyFactory


@pytest.fixture
def mixed_allergies(patient):
    for substance, severity in [
        ("Aspirin", "mild"),
        ("Bee venom", "life_threatening"),
        ("Codeine", "severe"),
        ("Dust", "moderate"),
        ("Egg", "life_threatening"),
    ]:
        AllergyFactory(patient=patient, substance=substance, severity=severity)
    AllergyFactory(patient=patient, substance="Latex", severity="life_threatening", is_active=False)
    return patient


EXPECTED_ORDER = ["Bee venom", "Egg", "Codeine", "Dust", "Aspirin"]


@pytest.mark.django_db
def test_active_allergies_list_life_threatening_first(mixed_allergies):
    assert [a.substance for a in selectors.active_allergies(mixed_allergies)] == EXPECTED_ORDER


@pytest.mark.django_db
def test_active_allergies_order_is_the_databases_rank_then_substance(mixed_allergies):
    """Sorted by rank in Python after the database sorted by substance: the same list as
    ordering by the CASE rank and substance in SQL, ties and letter case included."""
    for substance in ("egg white", "Aspirin B", "aspirin", "Ñame", "Zinc"):
        AllergyFactory(patient=mixed_allergies, substance=substance, severity="severe")
    in_sql = list(
        mixed_allergies.allergies.filter(is_active=True).order_by(
            selectors.allergy_severity_rank(), "substance"
        )
    )
    assert selectors.active_allergies(mixed_allergies) == in_sql
    assert len(in_sql) == len(EXPECTED_ORDER) + 5


@pytest.mark.django_db
def test_chart_banner_medications_tab_and_exports_list_the_most_severe_first(
    mixed_allergies, doctor_user, client_for
):
    c = client_for(doctor_user)
    banner = c.get(reverse("patients:chart", args=[mixed_allergies.pk])).content.decode()
    positions = [banner.index(f">{s}") for s in EXPECTED_ORDER]
    assert positions == sorted(positions)
    tab = c.get(reverse("patients:chart_tab", args=[mixed_allergies.pk, "medications"]))
    listed = re.findall(
        r"<strong>([^<]+)</strong>", tab.content.decode().split('id="chart-tab"')[1]
    )
    assert listed[: len(EXPECTED_ORDER) + 1] == [*EXPECTED_ORDER, "Latex"]  # inactive last
    assert [a.substance for a in record.record_data(mixed_allergies)["allergies"]] == (
        EXPECTED_ORDER
    )


@pytest.mark.parametrize(
    ("substance", "drug", "blocked"),
    [
        ("Ace", "Paracetamol", False),
        ("Ace", "ACE inhibitor", True),
        ("pen", "Penicillin V", False),
        ("Penicillin", "penicillin V potassium", True),
        ("Amoxicillin", "Amoxicillin+Clavulanate 625 mg", True),
        ("Sulfaméthoxazole", "sulfamethoxazole / trimethoprim", True),
        ("Sulfa drugs", "Sulfamethoxazole", False),
        ("Co-amoxiclav", "co amoxiclav", True),
        ("...", "Paracetamol", False),
    ],
)
def test_allergy_names_drug_matches_whole_words(substance, drug, blocked):
    assert visits.allergy_names_drug(substance, drug) is blocked


def _rx(drug: str) -> dict:
    return {"drug_name": drug, "dose": "500 mg", "route": "oral", "frequency": "q6h", "quantity": 6}


@pytest.mark.django_db
def test_prescription_allergy_check_is_not_a_substring_match(visit, doctor_user):
    Allergy.objects.create(patient=visit.patient, substance="Ace", severity="mild")
    AllergyFactory(patient=visit.patient, substance="Ibuprofen", severity="severe")
    assert visits.prescription_add(actor=doctor_user, visit=visit, data=_rx("Paracetamol"))
    with pytest.raises(ValidationError) as exc:
        visits.prescription_add(actor=doctor_user, visit=visit, data=_rx("IBUPROFEN 400"))
    assert "allergic to Ibuprofen" in str(exc.value)
