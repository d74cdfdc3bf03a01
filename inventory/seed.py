"""Demo inventory: a Philippine university clinic formulary, supplies, dental supplies, lots
with varied expiries (some expiring soon, one expired), vendors, equipment with schedules,
purchase orders and three months of dispensing history. Everything goes through the
services, so the ledger balances (``manage.py inventory check``). Idempotent: it runs once
per database (the first item code is the marker) inside one transaction."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from inventory import quantities
from inventory.models import (
    Category,
    Equipment,
    IntervalUnit,
    Item,
    ItemKind,
    Location,
    MaintenanceKind,
    MaintenanceLog,
    MaintenanceSchedule,
    ReasonCode,
    Vendor,
)
from inventory.services import dispensing, purchasing, stock
from patients.models import Patient

M, S, D, E = (
    ItemKind.MEDICATION,
    ItemKind.MEDICAL_SUPPLY,
    ItemKind.DENTAL_SUPPLY,
    ItemKind.EQUIPMENT,
)

LOCATIONS = [
    ("Pharmacy", "pharmacy", "Main dispensing counter"),
    ("Dental room", "dental", "Dental clinic cabinets"),
    ("Store room", "store", "Bulk storage, 2nd floor"),
    ("Emergency cart", "er-cart", "Treatment room crash cart"),
]

VENDORS = [
    (
        "Cebu Pharma Distributors",
        "Grace Villamor",
        "orders@cebupharma.example.ph",
        "(032) 255 1180",
        5,
    ),
    (
        "Visayas Medical Supply Co.",
        "Ramon Ong",
        "sales@vismedsupply.example.ph",
        "(032) 412 7734",
        7,
    ),
    ("DentaPlus Philippines", "Joy Tan", "cebu@dentaplus.example.ph", "(02) 8812 4400", 14),
]

# sku, name, kind, generic, strength, form, category, unit, fractions, reorder point, reorder qty, vendor index, location code, unit cost
FORMULARY = [
    (
        "MED-PCM500",
        "Paracetamol",
        M,
        "paracetamol",
        "500 mg",
        "Tablet",
        "Analgesics & antipyretics",
        "tablet",
        False,
        300,
        1000,
        0,
        "pharmacy",
        "0.85",
    ),
    (
        "MED-PCM250S",
        "Paracetamol syrup",
        M,
        "paracetamol",
        "250 mg/5 mL",
        "Syrup",
        "Analgesics & antipyretics",
        "bottle",
        False,
        10,
        30,
        0,
        "pharmacy",
        "38.00",
    ),
    (
        "MED-MEF500",
        "Mefenamic acid",
        M,
        "mefenamic acid",
        "500 mg",
        "Capsule",
        "Analgesics & antipyretics",
        "capsule",
        False,
        200,
        600,
        0,
        "pharmacy",
        "1.60",
    ),
    (
        "MED-IBU400",
        "Ibuprofen",
        M,
        "ibuprofen",
        "400 mg",
        "Tablet",
        "Analgesics & antipyretics",
        "tablet",
        False,
        150,
        500,
        0,
        "pharmacy",
        "1.25",
    ),
    (
        "MED-AMX500",
        "Amoxicillin",
        M,
        "amoxicillin",
        "500 mg",
        "Capsule",
        "Antibiotics",
        "capsule",
        False,
        200,
        600,
        0,
        "pharmacy",
        "2.40",
    ),
    (
        "MED-COA625",
        "Co-amoxiclav",
        M,
        "amoxicillin + clavulanic acid",
        "625 mg",
        "Tablet",
        "Antibiotics",
        "tablet",
        False,
        60,
        200,
        0,
        "pharmacy",
        "14.50",
    ),
    (
        "MED-CTZ10",
        "Cetirizine",
        M,
        "cetirizine",
        "10 mg",
        "Tablet",
        "Antihistamines",
        "tablet",
        False,
        150,
        500,
        0,
        "pharmacy",
        "1.10",
    ),
    (
        "MED-LOR10",
        "Loratadine",
        M,
        "loratadine",
        "10 mg",
        "Tablet",
        "Antihistamines",
        "tablet",
        False,
        100,
        300,
        0,
        "pharmacy",
        "1.30",
    ),
    (
        "MED-ORS",
        "Oral rehydration salts",
        M,
        "ORS",
        "20.5 g",
        "Sachet",
        "Gastrointestinal",
        "sachet",
        False,
        80,
        300,
        0,
        "pharmacy",
        "9.50",
    ),
    (
        "MED-LOP2",
        "Loperamide",
        M,
        "loperamide",
        "2 mg",
        "Capsule",
        "Gastrointestinal",
        "capsule",
        False,
        60,
        200,
        0,
        "pharmacy",
        "1.45",
    ),
    (
        "MED-ALH",
        "Aluminum hydroxide + magnesium hydroxide",
        M,
        "antacid",
        "200/100 mg",
        "Chewable tablet",
        "Gastrointestinal",
        "tablet",
        False,
        100,
        300,
        0,
        "pharmacy",
        "2.20",
    ),
    (
        "MED-OME20",
        "Omeprazole",
        M,
        "omeprazole",
        "20 mg",
        "Capsule",
        "Gastrointestinal",
        "capsule",
        False,
        60,
        200,
        0,
        "pharmacy",
        "3.10",
    ),
    (
        "MED-SAL2",
        "Salbutamol",
        M,
        "salbutamol",
        "2 mg",
        "Tablet",
        "Respiratory",
        "tablet",
        False,
        60,
        200,
        0,
        "pharmacy",
        "0.95",
    ),
    (
        "MED-SALNEB",
        "Salbutamol nebule",
        M,
        "salbutamol",
        "2.5 mg/2.5 mL",
        "Nebule",
        "Respiratory",
        "nebule",
        False,
        40,
        120,
        0,
        "er-cart",
        "16.00",
    ),
    (
        "MED-CAR",
        "Carbocisteine",
        M,
        "carbocisteine",
        "500 mg",
        "Capsule",
        "Respiratory",
        "capsule",
        False,
        80,
        300,
        0,
        "pharmacy",
        "3.40",
    ),
    (
        "MED-AML5",
        "Amlodipine",
        M,
        "amlodipine",
        "5 mg",
        "Tablet",
        "Cardiovascular",
        "tablet",
        False,
        60,
        200,
        0,
        "pharmacy",
        "1.80",
    ),
    (
        "MED-BUSC10",
        "Hyoscine butylbromide",
        M,
        "hyoscine",
        "10 mg",
        "Tablet",
        "Gastrointestinal",
        "tablet",
        False,
        50,
        200,
        0,
        "pharmacy",
        "5.50",
    ),
    (
        "MED-MET500",
        "Metformin",
        M,
        "metformin",
        "500 mg",
        "Tablet",
        "Endocrine",
        "tablet",
        False,
        50,
        200,
        0,
        "pharmacy",
        "1.20",
    ),
    (
        "MED-POVI",
        "Povidone-iodine 10%",
        M,
        "povidone-iodine",
        "10%",
        "Solution",
        "Antiseptics",
        "mL",
        True,
        500,
        2000,
        1,
        "store",
        "0.12",
    ),
    (
        "MED-EPI1",
        "Epinephrine",
        M,
        "epinephrine",
        "1 mg/mL",
        "Ampoule",
        "Emergency",
        "ampoule",
        False,
        5,
        10,
        0,
        "er-cart",
        "85.00",
    ),
    (
        "SUP-GAUZE",
        "Sterile gauze pad 4x4",
        S,
        "",
        "",
        "",
        "Wound care",
        "piece",
        False,
        200,
        1000,
        1,
        "store",
        "3.00",
    ),
    (
        "SUP-BAND",
        "Adhesive bandage strips",
        S,
        "",
        "",
        "",
        "Wound care",
        "piece",
        False,
        300,
        1000,
        1,
        "store",
        "1.50",
    ),
    (
        "SUP-GLOVE",
        "Examination gloves (medium)",
        S,
        "",
        "",
        "",
        "PPE",
        "box of 100",
        False,
        10,
        30,
        1,
        "store",
        "320.00",
    ),
    (
        "SUP-MASK",
        "Surgical face mask",
        S,
        "",
        "",
        "",
        "PPE",
        "box of 50",
        False,
        10,
        30,
        1,
        "store",
        "180.00",
    ),
    (
        "SUP-ALC70",
        "Isopropyl alcohol 70%",
        S,
        "",
        "",
        "",
        "Antiseptics",
        "mL",
        True,
        2000,
        8000,
        1,
        "store",
        "0.09",
    ),
    (
        "SUP-SYR3",
        "Disposable syringe 3 mL",
        S,
        "",
        "",
        "",
        "Injection",
        "piece",
        False,
        100,
        500,
        1,
        "store",
        "4.20",
    ),
    (
        "SUP-COTTON",
        "Cotton balls",
        S,
        "",
        "",
        "",
        "Wound care",
        "pack",
        False,
        10,
        40,
        1,
        "store",
        "45.00",
    ),
    (
        "DEN-LIDO",
        "Lidocaine 2% with epinephrine",
        D,
        "lidocaine + epinephrine",
        "2%",
        "Cartridge",
        "Dental anaesthetics",
        "cartridge",
        False,
        50,
        200,
        2,
        "dental",
        "28.00",
    ),
    (
        "DEN-GIC",
        "Glass ionomer cement",
        D,
        "",
        "",
        "",
        "Restoratives",
        "kit",
        False,
        2,
        6,
        2,
        "dental",
        "1450.00",
    ),
    (
        "DEN-COMP",
        "Composite resin A2",
        D,
        "",
        "",
        "",
        "Restoratives",
        "syringe",
        False,
        3,
        10,
        2,
        "dental",
        "980.00",
    ),
    (
        "DEN-NEEDLE",
        "Dental needle 27G short",
        D,
        "",
        "",
        "",
        "Dental anaesthetics",
        "piece",
        False,
        50,
        200,
        2,
        "dental",
        "9.00",
    ),
    (
        "DEN-FLUOR",
        "Fluoride varnish",
        D,
        "sodium fluoride",
        "5%",
        "Varnish",
        "Preventive",
        "unit dose",
        False,
        20,
        80,
        2,
        "dental",
        "55.00",
    ),
    (
        "EQP-BPM",
        "Digital blood pressure monitor",
        E,
        "",
        "",
        "",
        "Diagnostic equipment",
        "unit",
        False,
        0,
        0,
        1,
        "store",
        "2800.00",
    ),
]

EQUIPMENT = [
    (
        "Digital BP monitor",
        "USC-EQ-0001",
        "OMR-HEM7120-55231",
        "HEM-7120",
        "Omron",
        "pharmacy",
        MaintenanceKind.CALIBRATION,
        12,
        IntervalUnit.MONTHS,
        340,
    ),
    (
        "Autoclave",
        "USC-EQ-0002",
        "TUT-2540M-88112",
        "2540M",
        "Tuttnauer",
        "dental",
        MaintenanceKind.MAINTENANCE,
        3,
        IntervalUnit.MONTHS,
        80,
    ),
    (
        "Dental chair unit",
        "USC-EQ-0003",
        "DCU-1998-0042",
        "Comfort S",
        "Siger",
        "dental",
        MaintenanceKind.MAINTENANCE,
        6,
        IntervalUnit.MONTHS,
        170,
    ),
    (
        "Pulse oximeter",
        "USC-EQ-0004",
        "BEU-PO30-7781",
        "PO 30",
        "Beurer",
        "er-cart",
        MaintenanceKind.CALIBRATION,
        12,
        IntervalUnit.MONTHS,
        375,
    ),
    (
        "Nebulizer",
        "USC-EQ-0005",
        "OMR-NEC801-2231",
        "NE-C801",
        "Omron",
        "er-cart",
        MaintenanceKind.MAINTENANCE,
        90,
        IntervalUnit.DAYS,
        95,
    ),
    (
        "Weighing scale with height rod",
        "USC-EQ-0006",
        "DET-339-5512",
        "339",
        "Detecto",
        "pharmacy",
        MaintenanceKind.CALIBRATION,
        6,
        IntervalUnit.MONTHS,
        150,
    ),
]

WARDS = ["Treatment room", "Dental room", "Emergency cart", "Sports clinic"]


def run(*, stdout) -> None:
    if Item.objects.filter(sku=FORMULARY[0][0]).exists():
        stdout.write("  inventory already seeded")
        return
    with transaction.atomic():
        _seed(stdout)


def _seed(stdout) -> None:
    rng = random.Random(2026)
    today = timezone.localdate()
    now = timezone.now()
    manager = User.objects.filter(email="inventory@usc.edu.ph").first()
    nurse = User.objects.filter(email="nurse@usc.edu.ph").first()
    locations = {
        code: Location.objects.get_or_create(
            code=code, defaults={"name": name, "description": desc}
        )[0]
        for name, code, desc in LOCATIONS
    }
    vendors = [
        Vendor.objects.get_or_create(
            name=name,
            defaults={
                "contact_name": contact,
                "email": email,
                "phone": phone,
                "lead_time_days": lead,
                "address": "Cebu City, Philippines",
            },
        )[0]
        for name, contact, email, phone, lead in VENDORS
    ]
    items = []
    for (
        sku,
        name,
        kind,
        generic,
        strength,
        form,
        category,
        unit,
        frac,
        rp,
        rq,
        vendor,
        loc,
        cost,
    ) in FORMULARY:
        item = Item(
            sku=sku,
            name=name,
            kind=kind,
            generic_name=generic,
            strength=strength,
            form=form,
            # Names are unique ignoring case: reuse a category a manager already created.
            category=Category.objects.get_or_create(
                name__iexact=category, defaults={"name": category}
            )[0],
            unit=unit,
            allows_fractions=frac,
            reorder_point=Decimal(rp),
            reorder_quantity=Decimal(rq),
            preferred_vendor=vendors[vendor],
            default_location=locations[loc],
        )
        item.refresh_search_text()
        item.save()
        items.append((item, Decimal(cost)))

    # Lots: two or three batches per consumable with varied expiries, received 60-120 days ago.
    batch_no = 0
    for item, cost in items:
        if item.kind == E:
            continue
        for n in range(rng.choice([2, 2, 3])):
            batch_no += 1
            days = (
                rng.choice([25, 45, 75, 120, 200, 365, 540, 720])
                if n
                else rng.choice([20, 50, 85, 150])
            )
            qty = (
                int(
                    item.reorder_quantity
                    * Decimal(rng.choice(["0.3", "0.5", "0.8", "1"]))
                    / (n + 1)
                )
                or 1
            )
            stock.stock_receive(
                actor=manager,
                item=item,
                location=item.default_location,
                batch_number=f"{item.sku.split('-', 1)[1][:6]}-{24000 + batch_no}",
                expiry_date=today + timedelta(days=days),
                quantity=qty,
                unit_cost=cost,
                reason_code=ReasonCode.OPENING if n == 0 else ReasonCode.PURCHASE,
                received_at=now - timedelta(days=rng.randint(60, 120)),
            )

    # Three months of dispensing: patients from the patients seed (the demo student too) and ward use.

    patients = list(Patient.objects.order_by("id")[:40])
    common = [
        i
        for i, _ in items
        if i.kind == M
        and i.sku
        in {
            "MED-PCM500",
            "MED-MEF500",
            "MED-AMX500",
            "MED-CTZ10",
            "MED-ORS",
            "MED-LOP2",
            "MED-ALH",
            "MED-IBU400",
        }
    ]
    supplies = [i for i, _ in items if i.kind in (S, D)]
    for day in range(90, 0, -1):
        for _ in range(rng.randint(2, 6)):
            at = now - timedelta(days=day, hours=rng.randint(0, 8))
            if patients and rng.random() < 0.75:
                item = rng.choice(common)
                kwargs = {"patient": rng.choice(patients)}
                qty = rng.choice([2, 3, 6, 10, 21]) if item.unit in ("tablet", "capsule") else 2
            else:
                item = rng.choice(supplies)
                kwargs = {"destination": rng.choice(WARDS)}
                qty = (
                    1
                    if item.unit.startswith(("box", "kit", "syringe", "pack"))
                    else rng.choice([2, 5, 10])
                )
            try:
                dispensing.stock_dispense(
                    actor=nurse, item=item, quantity=qty, occurred_at=at, **kwargs
                )
            except Exception:  # noqa: S112 - not enough stock left of that item: skip that day's entry
                continue

    # Make one lot expired (quarantined) and a low-stock situation for the demo.
    pcm = Item.objects.get(sku="MED-LOP2")
    lot = pcm.lots.order_by("expiry_date").first()
    if lot:
        stock.lot_set_status(actor=manager, lot=lot, status="quarantined")

    # Purchase orders: one sent and partly received, one draft from the reorder job.
    order = purchasing.purchase_order_create(actor=manager, vendor=vendors[1])
    gauze = Item.objects.get(sku="SUP-GAUZE")
    purchasing.purchase_order_add_line(
        actor=manager, order=order, item=gauze, quantity=500, unit_cost="3.00"
    )
    purchasing.purchase_order_add_line(
        actor=manager,
        order=order,
        item=Item.objects.get(sku="SUP-MASK"),
        quantity=10,
        unit_cost="175.00",
    )
    purchasing.purchase_order_send(actor=manager, order=order)
    purchasing.purchase_orders_draft_for_low_stock(actor=None)

    for name, tag, serial, model, maker, loc, kind, every, unit, age in EQUIPMENT:
        eq = Equipment.objects.create(
            name=name,
            asset_tag=tag,
            serial_number=serial,
            model=model,
            manufacturer=maker,
            location=locations[loc],
            purchase_date=today - timedelta(days=age * 3),
            warranty_end=today + timedelta(days=365 - age),
            vendor=vendors[1],
        )
        last = today - timedelta(days=age)
        MaintenanceSchedule.objects.create(
            equipment=eq,
            kind=kind,
            interval_value=every,
            interval_unit=unit,
            last_done_on=last,
            next_due_on=quantities.add_interval(last, every, unit),
        )
        MaintenanceLog.objects.create(
            equipment=eq,
            kind=kind,
            performed_on=last,
            performed_by=manager,
            work_done="Routine service per manufacturer checklist.",
            result="passed",
        )
    stdout.write(f"  {len(items)} items, {batch_no} lots, {len(EQUIPMENT)} equipment")
