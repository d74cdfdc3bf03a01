"""Inventory: catalogue, stock held by lot, the immutable movement ledger, vendors and
purchase orders, equipment and its maintenance, stocktakes and alert episodes.

On-hand for an item is always the sum of its lots; a lot's quantity always equals the sum of
its movements (``manage.py inventory check``). Quantities change only through
``inventory.services``, which lock the lot row and write the movement in the same
transaction; the database refuses negative stock (CHECK) and edits to the ledger (trigger).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

QTY = {"max_digits": 14, "decimal_places": 3}
STOCK_TOTAL_FIELDS = ("stock_on_hand", "stock_available", "stock_on_order")
MONEY = {"max_digits": 12, "decimal_places": 2}


class ItemKind(models.TextChoices):
    MEDICATION = "medication", "Medication"
    MEDICAL_SUPPLY = "medical_supply", "Medical supply"
    DENTAL_SUPPLY = "dental_supply", "Dental supply"
    EQUIPMENT = "equipment", "Equipment"


class Category(models.Model):
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [
            # "Analgesics" and "analgesics" are the same category.
            models.UniqueConstraint(
                Lower("name"),
                name="inventory_category_name_ci_unique",
                violation_error_message="A category with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    """A storage place: pharmacy, dental room, store room, emergency cart, ..."""

    name = models.CharField(max_length=80)
    code = models.SlugField(max_length=30, unique=True)
    description = models.CharField(max_length=200, blank=True)
    # Retired locations stay for history (lots, ledger, stocktakes) but are offered nowhere.
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="inventory_location_name_ci_unique",
                violation_error_message="A location with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Vendor(models.Model):
    name = models.CharField(max_length=150, unique=True)
    contact_name = models.CharField(max_length=120, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address = models.TextField(blank=True)
    lead_time_days = models.PositiveSmallIntegerField(default=7)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def item_display_name(name: str, strength: str, form: str) -> str:
    """``Item.display_name`` from the three fields it is made of (the stock overview's rows
    are drawn from these columns without an ``Item``)."""
    bits = [name]
    if strength and strength not in name:
        bits.append(strength)
    if form and form.lower() not in name.lower():
        bits.append(form.lower())
    return " ".join(bits)


class Item(models.Model):
    sku = models.CharField("item code", max_length=40, unique=True)
    name = models.CharField(max_length=160)
    kind = models.CharField(max_length=20, choices=ItemKind.choices, default=ItemKind.MEDICATION)
    generic_name = models.CharField(max_length=160, blank=True)
    strength = models.CharField(max_length=60, blank=True)
    form = models.CharField(
        max_length=60, blank=True, help_text="Tablet, capsule, syrup, sachet, ..."
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    unit = models.CharField("unit of measure", max_length=30, default="piece")
    allows_fractions = models.BooleanField(
        default=False, help_text="Whether quantities like 0.5 are allowed (e.g. mL, grams)."
    )
    reorder_point = models.DecimalField(**QTY, default=Decimal("0"))
    reorder_quantity = models.DecimalField(**QTY, default=Decimal("0"))
    preferred_vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.SET_NULL, related_name="preferred_items"
    )
    default_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="default_items"
    )
    is_active = models.BooleanField(default=True)
    # Lower-cased "name generic sku strength" for simple, index-friendly search.
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Stock totals kept by ``inventory.services`` in the same transaction as every lot or
    # open-order change (recomputed under the item's row lock), so the stock overview and
    # its low / out filters never aggregate lots per request. ``manage.py inventory check``
    # verifies them against the lots and purchase orders.
    stock_on_hand = models.DecimalField(**QTY, default=Decimal("0"), editable=False)
    stock_available = models.DecimalField(
        **QTY,
        default=Decimal("0"),
        editable=False,
        help_text="Lots with status available, whatever their expiry date.",
    )
    stock_on_order = models.DecimalField(
        **QTY,
        default=Decimal("0"),
        editable=False,
        help_text="Outstanding on sent / partially received purchase orders.",
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reorder_point__gte=0), name="inventory_item_reorder_point_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(reorder_quantity__gte=0), name="inventory_item_reorder_qty_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ItemKind.values), name="inventory_item_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(stock_on_hand__gte=0)
                & Q(stock_available__gte=0)
                & Q(stock_available__lte=F("stock_on_hand"))
                & Q(stock_on_order__gte=0),
                name="inventory_item_stock_totals_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "name"]),
            models.Index(fields=["category", "name"]),
            models.Index(fields=["preferred_vendor"]),
            models.Index(fields=["name", "id"]),
            # The stock overview: its count (an index-only scan instead of reading every
            # item) and its first pages in name order.
            models.Index(
                fields=["name", "id"],
                condition=Q(is_active=True),
                name="inventory_item_active_name_idx",
            ),
            # The stock overview's "low" filter: available + on order - reorder point <= 0
            # (the expression must match inventory.selectors.HEADROOM).
            models.Index(
                F("stock_available") + F("stock_on_order") - F("reorder_point"),
                name="inventory_item_headroom_idx",
            ),  # not partial: PostgreSQL keeps statistics on the expression, so it estimates well
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        # A plain save() of a loaded item must never write back stale stock totals.
        if (
            not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in STOCK_TOTAL_FIELDS
            ]
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return item_display_name(self.name, self.strength, self.form)

    def refresh_search_text(self) -> None:
        self.search_text = " ".join(
            [self.name, self.generic_name, self.sku, self.strength, self.form]
        ).lower()


class LotStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    QUARANTINED = "quarantined", "Quarantined"


class StockLot(models.Model):
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="lots")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="lots")
    batch_number = models.CharField(max_length=60)
    expiry_date = models.DateField(null=True, blank=True)
    quantity = models.DecimalField(**QTY, default=Decimal("0"))
    unit_cost = models.DecimalField(**MONEY, default=Decimal("0"))
    status = models.CharField(max_length=12, choices=LotStatus.choices, default=LotStatus.AVAILABLE)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expiry_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="inventory_lot_quantity_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="inventory_lot_unit_cost_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(status__in=LotStatus.values), name="inventory_lot_status_valid"
            ),
            models.UniqueConstraint(
                fields=["item", "location", "batch_number"], name="inventory_lot_unique_batch"
            ),
        ]
        indexes = [
            models.Index(fields=["item", "status", "expiry_date"]),
            models.Index(
                fields=["expiry_date"],
                condition=Q(quantity__gt=0),
                name="inventory_lot_expiring_idx",
            ),
            models.Index(fields=["location", "item"]),
            models.Index(
                fields=["expiry_date"],
                condition=Q(status="available", quantity__gt=0),
                name="inventory_lot_usable_exp_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} · batch {self.batch_number}"

    @property
    def is_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date < timezone.localdate()

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_cost


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "Receive"
    DISPENSE = "dispense", "Dispense"
    ADJUST = "adjust", "Adjust"
    TRANSFER = "transfer", "Transfer"
    DISPOSE = "dispose", "Expire / dispose"
    STOCKTAKE = "stocktake", "Stocktake correction"


class ReasonCode(models.TextChoices):
    PURCHASE = "purchase", "Purchase order receipt"
    DONATION = "donation", "Donation"
    OPENING = "opening", "Opening balance"
    PATIENT = "patient", "Dispensed to patient"
    WARD_USE = "ward_use", "Ward / room use"
    DAMAGED = "damaged", "Damaged"
    LOST = "lost", "Lost or missing"
    FOUND = "found", "Found"
    COUNT_CORRECTION = "count_correction", "Count correction"
    DATA_ENTRY = "data_entry", "Data entry error"
    EXPIRED = "expired", "Expired"
    RECALLED = "recalled", "Recalled"
    QUARANTINE = "quarantine", "Quarantined (expired)"
    RELEASE = "release", "Released from quarantine"
    TRANSFER = "transfer", "Moved between locations"
    RETURN_TO_VENDOR = "return_to_vendor", "Returned to vendor"


ADJUST_REASONS = [
    ReasonCode.DAMAGED,
    ReasonCode.LOST,
    ReasonCode.FOUND,
    ReasonCode.COUNT_CORRECTION,
    ReasonCode.DATA_ENTRY,
    ReasonCode.DONATION,
]
DISPOSE_REASONS = [
    ReasonCode.EXPIRED,
    ReasonCode.DAMAGED,
    ReasonCode.RECALLED,
    ReasonCode.RETURN_TO_VENDOR,
]
STOCKTAKE_REASONS = [
    ReasonCode.COUNT_CORRECTION,
    ReasonCode.DAMAGED,
    ReasonCode.LOST,
    ReasonCode.FOUND,
    ReasonCode.DATA_ENTRY,
]


class StockMovement(models.Model):
    """One immutable ledger row. The database refuses UPDATE and DELETE (see migration 0002)."""

    lot = models.ForeignKey(StockLot, on_delete=models.PROTECT, related_name="movements")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=12, choices=MovementKind.choices)
    reason_code = models.CharField(max_length=24, choices=ReasonCode.choices)
    quantity = models.DecimalField("quantity change", **QTY)
    unit_cost = models.DecimalField(**MONEY, default=Decimal("0"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    visit = models.ForeignKey(
        "patients.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prescription = models.ForeignKey(
        "patients.Prescription", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination = models.CharField(
        max_length=120, blank=True, help_text="Ward or room for non-patient use"
    )
    purchase_order_line = models.ForeignKey(
        "PurchaseOrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="movements",
    )
    stocktake = models.ForeignKey(
        "Stocktake", null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    transfer_ref = models.UUIDField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=MovementKind.values), name="inventory_movement_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind="dispense") | Q(patient__isnull=False) | ~Q(destination=""),
                name="inventory_movement_dispense_has_recipient",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["dispense", "dispose"]) | Q(quantity__lt=0),
                name="inventory_movement_outflow_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="receive") | Q(quantity__gt=0),
                name="inventory_movement_receive_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["item", "-created_at", "-id"], name="inventory_mov_item_time_idx"),
            models.Index(fields=["lot"], name="inventory_mov_lot_idx"),
            models.Index(
                fields=["patient"],
                condition=Q(patient__isnull=False),
                name="inventory_mov_patient_idx",
            ),
            models.Index(
                fields=["visit"], condition=Q(visit__isnull=False), name="inventory_mov_visit_idx"
            ),
            models.Index(fields=["kind", "created_at"], name="inventory_mov_kind_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} of {self.item_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Stock movements are immutable; record a correcting movement instead.")
        super().save(*args, **kwargs)


# --- Purchase orders ----------------------------------------------------------------------


class POStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    PARTIAL = "partially_received", "Partially received"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"


OPEN_PO_STATUSES = [POStatus.SENT, POStatus.PARTIAL]


class PurchaseOrder(models.Model):
    number = models.CharField(max_length=20, unique=True)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=POStatus.choices, default=POStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_drafted = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    expected_on = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=POStatus.values), name="inventory_po_status_valid"
            ),
            # One working draft per vendor: the reorder job and "draft order" add lines to it.
            models.UniqueConstraint(
                fields=["vendor"],
                condition=Q(status="draft"),
                name="inventory_po_one_draft_per_vendor",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_PO_STATUSES


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="order_lines")
    quantity_ordered = models.DecimalField(**QTY)
    quantity_received = models.DecimalField(**QTY, default=Decimal("0"))
    unit_cost = models.DecimalField(**MONEY, default=Decimal("0"))

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "item"], name="inventory_po_line_unique_item"),
            models.CheckConstraint(
                condition=Q(quantity_ordered__gt=0), name="inventory_po_line_ordered_pos"
            ),
            models.CheckConstraint(
                condition=Q(quantity_received__gte=0), name="inventory_po_line_received_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="inventory_po_line_cost_nonneg"
            ),
        ]
        indexes = [models.Index(fields=["item", "order"])]

    def __str__(self) -> str:
        return f"{self.quantity_ordered} x {self.item_id} on {self.order_id}"

    @property
    def outstanding(self) -> Decimal:
        return max(self.quantity_ordered - self.quantity_received, Decimal("0"))

    @property
    def line_total(self) -> Decimal:
        return self.quantity_ordered * self.unit_cost


# --- Equipment ------------------------------------------------------------------------------


class EquipmentStatus(models.TextChoices):
    IN_SERVICE = "in_service", "In service"
    UNDER_REPAIR = "under_repair", "Under repair"
    OUT_OF_SERVICE = "out_of_service", "Out of service"
    RETIRED = "retired", "Retired"


class Equipment(models.Model):
    name = models.CharField(max_length=150)
    asset_tag = models.CharField(max_length=40, unique=True)
    serial_number = models.CharField(max_length=80, blank=True)
    model = models.CharField(max_length=120, blank=True)
    manufacturer = models.CharField(max_length=120, blank=True)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="equipment")
    purchase_date = models.DateField(null=True, blank=True)
    warranty_end = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=EquipmentStatus.choices, default=EquipmentStatus.IN_SERVICE
    )
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "asset_tag"]
        verbose_name_plural = "equipment"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EquipmentStatus.values),
                name="inventory_equipment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.asset_tag})"


class MaintenanceKind(models.TextChoices):
    MAINTENANCE = "maintenance", "Preventive maintenance"
    CALIBRATION = "calibration", "Calibration"


class IntervalUnit(models.TextChoices):
    DAYS = "days", "days"
    MONTHS = "months", "months"


class MaintenanceSchedule(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="schedules")
    kind = models.CharField(max_length=12, choices=MaintenanceKind.choices)
    interval_value = models.PositiveSmallIntegerField()
    interval_unit = models.CharField(
        max_length=6, choices=IntervalUnit.choices, default=IntervalUnit.MONTHS
    )
    last_done_on = models.DateField(null=True, blank=True)
    next_due_on = models.DateField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["next_due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_value__gte=1), name="inventory_schedule_interval_pos"
            ),
            models.UniqueConstraint(
                fields=["equipment", "kind"], name="inventory_schedule_unique_kind"
            ),
        ]
        indexes = [models.Index(fields=["is_active", "next_due_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.equipment} every {self.interval_value} {self.interval_unit}"


class MaintenanceResult(models.TextChoices):
    PASSED = "passed", "Passed"
    ADJUSTED = "adjusted", "Adjusted / repaired"
    FAILED = "failed", "Failed"


class MaintenanceLog(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="logs")
    schedule = models.ForeignKey(
        MaintenanceSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    kind = models.CharField(max_length=12, choices=MaintenanceKind.choices)
    performed_on = models.DateField()
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    technician = models.CharField(
        max_length=120, blank=True, help_text="Outside technician, if any"
    )
    work_done = models.TextField()
    result = models.CharField(max_length=10, choices=MaintenanceResult.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-performed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.equipment_id} on {self.performed_on}"


# --- Stocktake ------------------------------------------------------------------------------


class StocktakeStatus(models.TextChoices):
    OPEN = "open", "Counting"
    POSTED = "posted", "Posted"


class Stocktake(models.Model):
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stocktakes")
    status = models.CharField(
        max_length=8, choices=StocktakeStatus.choices, default=StocktakeStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["location"],
                condition=Q(status="open"),
                name="inventory_stocktake_one_open_per_location",
            ),
        ]

    def __str__(self) -> str:
        return f"Stocktake {self.pk} · {self.location}"


class StocktakeLine(models.Model):
    stocktake = models.ForeignKey(Stocktake, on_delete=models.CASCADE, related_name="lines")
    lot = models.ForeignKey(StockLot, on_delete=models.PROTECT, related_name="+")
    expected_quantity = models.DecimalField(**QTY)
    counted_quantity = models.DecimalField(**QTY, null=True, blank=True)
    reason_code = models.CharField(max_length=24, choices=ReasonCode.choices, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stocktake", "lot"], name="inventory_stocktake_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(counted_quantity__isnull=True) | Q(counted_quantity__gte=0),
                name="inventory_stocktake_counted_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"Count line {self.pk} (lot {self.lot_id})"

    # A count states what is on the shelf now, so the variance is taken against the lot's
    # current quantity, not the snapshot: stock dispensed, received or moved while the sheet
    # was open must not be counted twice. Load ``lot`` with the line (``select_related``, or
    # the locked lot when posting) so these stay free of queries.
    @property
    def variance(self) -> Decimal | None:
        """What posting would record now: counted minus the lot's current quantity."""
        if self.counted_quantity is None:
            return None
        return self.counted_quantity - self.lot.quantity

    @property
    def moved_since_start(self) -> bool:
        """The lot's quantity changed after the sheet was started (re-check that shelf)."""
        return self.lot.quantity != self.expected_quantity


# --- Alert episodes ---------------------------------------------------------------------------


class AlertKind(models.TextChoices):
    LOW_STOCK = "low_stock", "Low stock"
    EXPIRING = "expiring", "Expiring soon"
    MAINTENANCE_DUE = "maintenance_due", "Maintenance due"
    MAINTENANCE_OVERDUE = "maintenance_overdue", "Maintenance overdue"


class AlertEpisode(models.Model):
    """One continuous spell of a condition (an item below its reorder point, lots expiring
    within N days, a maintenance falling due). Managers are told once when it opens; the
    partial unique index on ``key`` makes a second opener fail, so a re-run or a concurrent
    beat never notifies twice. It closes when the condition clears."""

    key = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    schedule = models.ForeignKey(
        MaintenanceSchedule, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(closed_at__isnull=True),
                name="inventory_alert_one_open_per_key",
            ),
        ]
        indexes = [models.Index(fields=["kind", "closed_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"
