"""The standard fee schedule of a Philippine university clinic: services, the price lists per
patient type and the usual payers. ``catalogue_ensure`` creates what is missing (used by
``seed_demo`` and the tests); an administrator adjusts prices afterwards."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction

from billing.models import Payer, PayerKind, Price, PriceBasis, PriceList, Service, ServiceGroup

# code, name, group, dental procedure, full price, VAT-exempt
SERVICES = [
    ("CONSULT", "Medical consultation", ServiceGroup.CONSULTATION, "", "150.00", True),
    ("DENTAL", "Dental procedure", ServiceGroup.DENTAL, "", "300.00", True),
    ("D-EXAM", "Dental examination", ServiceGroup.DENTAL, "exam", "200.00", True),
    ("D-PROPHY", "Prophylaxis / cleaning", ServiceGroup.DENTAL, "prophylaxis", "500.00", True),
    ("D-FILL", "Filling (per tooth)", ServiceGroup.DENTAL, "filling", "800.00", True),
    ("D-EXT", "Extraction (per tooth)", ServiceGroup.DENTAL, "extraction", "600.00", True),
    ("D-SEAL", "Sealant (per tooth)", ServiceGroup.DENTAL, "sealant", "400.00", True),
    ("D-RCT", "Root canal", ServiceGroup.DENTAL, "root_canal", "3500.00", True),
    ("D-CROWN", "Crown", ServiceGroup.DENTAL, "crown", "5000.00", True),
    ("D-FLUOR", "Fluoride application", ServiceGroup.DENTAL, "fluoride", "300.00", True),
    ("CERT", "Medical certificate", ServiceGroup.CERTIFICATE, "", "20.00", True),
    ("LAB-CBC", "Complete blood count", ServiceGroup.LAB, "", "250.00", True),
    ("LAB-UA", "Urinalysis", ServiceGroup.LAB, "", "100.00", True),
    ("LAB-FBS", "Fasting blood sugar", ServiceGroup.LAB, "", "150.00", True),
    ("MEDS", "Medicines and supplies", ServiceGroup.MEDICINE, "", "0.00", False),
    ("NOSHOW", "No-show fee", ServiceGroup.NO_SHOW, "", "100.00", False),
]
MEDICINE_MARKUP = Decimal("15")

# patient type -> (share of the full price, consultations covered per term)
PRICE_LISTS = {
    "student": (Decimal("1"), 3),  # the student health fee covers 3 consultations a term
    "employee": (Decimal("0.5"), 0),  # employees pay half
    "dependent": (Decimal("1"), 0),
    "other": (Decimal("1"), 0),
}
LISTS_FROM = date(2024, 1, 1)

PAYERS = [
    ("philhealth-konsulta", "PhilHealth Konsulta", PayerKind.PHILHEALTH, False, 0),
    ("maxicare", "Maxicare", PayerKind.HMO, True, 3),
    ("intellicare", "Intellicare", PayerKind.HMO, True, 3),
    ("medicard", "MediCard", PayerKind.HMO, True, 5),
    ("usc", "University of San Carlos (employee benefit)", PayerKind.UNIVERSITY, False, 0),
]


@transaction.atomic
def catalogue_ensure() -> dict[str, int]:
    """Create the standard services, price lists and payers that are missing."""
    created = {"services": 0, "price_lists": 0, "payers": 0}
    services = {}
    for code, name, group, procedure, _price, exempt in SERVICES:
        service, new = Service.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "group": group,
                "dental_procedure": procedure,
                "vat_exempt": exempt,
            },
        )
        services[code] = service
        created["services"] += new
    for patient_type, (share, covered) in PRICE_LISTS.items():
        plist, new = PriceList.objects.get_or_create(
            patient_type=patient_type,
            effective_from=LISTS_FROM,
            defaults={"name": f"{patient_type.title()} prices {LISTS_FROM.year}"},
        )
        created["price_lists"] += new
        for code, _name, group, _p, price, _e in SERVICES:
            if code == "MEDS":
                defaults = {"basis": PriceBasis.COST_PLUS, "markup_percent": MEDICINE_MARKUP}
            else:
                amount = (Decimal(price) * (share if code != "NOSHOW" else 1)).quantize(
                    Decimal("0.01")
                )
                defaults = {
                    "amount": amount,
                    "covered_per_term": covered if group == ServiceGroup.CONSULTATION else 0,
                }
            Price.objects.get_or_create(price_list=plist, service=services[code], defaults=defaults)
    for code, name, kind, loa, days in PAYERS:
        _, new = Payer.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "requires_loa": loa,
                "loa_validity_days": days or 3,
            },
        )
        created["payers"] += new
    return created
