"""The billing domain: fee schedule, payers and coverage, charges, invoices, payments,
cashier days, insurance claims and remittances.

Nothing financial is ever deleted (foreign keys ``PROTECT``; corrections are credit notes,
voids, reversals and refunds). Amounts are ``Decimal`` with two places; the totals each
document stores are checked by constraints where one row can prove them, and by
``manage.py billing check`` where it takes several rows.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from patients.models import PatientType

MONEY = {"max_digits": 12, "decimal_places": 2}
ZERO = Decimal("0.00")


# --- Fee schedule ---------------------------------------------------------------------


class ServiceGroup(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    DENTAL = "dental", "Dental procedure"
    CERTIFICATE = "certificate", "Certificate"
    LAB = "lab", "Laboratory / diagnostics"
    MEDICINE = "medicine", "Medicines and supplies"
    NO_SHOW = "no_show", "No-show fee"
    OTHER = "other", "Other"


class PriceBasis(models.TextChoices):
    FIXED = "fixed", "Fixed price"
    COST_PLUS = "cost_plus", "Unit cost plus markup"


class Service(models.Model):
    """One billable thing in the catalogue. Charges point at it; what it costs comes from the
    price list in force for the patient's type on the day of the charge."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=160)
    group = models.CharField(max_length=16, choices=ServiceGroup.choices)
    # What the service stands for upstream (at most one of these is set).
    appointment_type = models.OneToOneField(
        "appointments.AppointmentType",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_service",
    )
    dental_procedure = models.CharField(max_length=20, blank=True)
    item = models.OneToOneField(
        "inventory.Item",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billing_service",
    )
    vat_exempt = models.BooleanField(
        default=True, help_text="Medical and dental services are VAT-exempt unless configured."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["group", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(group__in=ServiceGroup.values), name="billing_service_group_valid"
            ),
            models.UniqueConstraint(
                fields=["dental_procedure"],
                condition=~Q(dental_procedure=""),
                name="billing_service_dental_procedure_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PriceList(models.Model):
    """Prices for one patient type from ``effective_from``; the newest list in force on a
    charge's day prices it. Issued invoices keep their own copied amounts, so a new list
    never changes them."""

    name = models.CharField(max_length=120)
    patient_type = models.CharField(max_length=16, choices=PatientType.choices)
    effective_from = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["patient_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient_type", "effective_from"], name="billing_pricelist_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (from {self.effective_from:%d %b %Y})"


class Price(models.Model):
    price_list = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="prices")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="prices")
    basis = models.CharField(max_length=10, choices=PriceBasis.choices, default=PriceBasis.FIXED)
    amount = models.DecimalField(**MONEY, default=ZERO)
    markup_percent = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    # "The first N of these per term are covered by the student health fee (₱0)".
    covered_per_term = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["price_list", "service"], name="billing_price_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="billing_price_not_negative"),
            models.CheckConstraint(
                condition=Q(markup_percent__gte=0), name="billing_price_markup_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.price_list_id}/{self.service_id}: {self.amount}"


# --- Payers and coverage ----------------------------------------------------------------


class PayerKind(models.TextChoices):
    PHILHEALTH = "philhealth", "PhilHealth Konsulta"
    HMO = "hmo", "HMO"
    UNIVERSITY = "university", "University (employee benefit)"


class Payer(models.Model):
    """Who pays a share besides the patient (self-pay is the patient's share itself)."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=PayerKind.choices)
    requires_loa = models.BooleanField(default=False)
    loa_validity_days = models.PositiveSmallIntegerField(
        default=3, help_text="How long a letter of authorisation stays usable (HMOs)."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Coverage(models.Model):
    """A patient's membership with a payer: what share it pays, for which service groups,
    up to an annual cap, between two dates."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="coverages"
    )
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    member_id = models.CharField("member ID / PIN", max_length=40)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("100"))
    fixed_amount = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Pays this much per line instead of a percentage."
    )
    groups = models.JSONField(default=list, blank=True, help_text="Service groups; empty = all.")
    annual_cap = models.DecimalField(**MONEY, null=True, blank=True)
    loa_number = models.CharField("LOA number", max_length=60, blank=True)
    loa_issued_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from", "-id"]
        indexes = [models.Index(fields=["patient", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="billing_coverage_percent_range"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="billing_coverage_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(annual_cap__isnull=True) | Q(annual_cap__gte=0),
                name="billing_coverage_cap_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payer} · {self.member_id}"

    def covers(self, group: str, day) -> bool:
        if not self.is_active or day < self.valid_from:
            return False
        if self.valid_until and day > self.valid_until:
            return False
        return not self.groups or group in self.groups

    def loa_valid_on(self, day) -> bool:
        if not self.payer.requires_loa:
            return True
        if not self.loa_number or not self.loa_issued_on:
            return False
        return 0 <= (day - self.loa_issued_on).days < self.payer.loa_validity_days


# --- PhilHealth Konsulta (primary-care capitation) ------------------------------------


class KonsultaRegistration(models.Model):
    """A PhilHealth member registered with (assigned to) the clinic as their Konsulta
    primary-care provider for one year. PhilHealth pays the clinic a capitation per
    registered member per year (PC 2020-0022: ₱500 public, ₱750 private providers) instead of
    per visit, so the member's covered consultations and listed lab tests cost them ₱0 and
    are never claimed line by line.

    Its coverage (payer PhilHealth, member PIN, the registration year, 0 % per-line share)
    is what the invoices and the chart show; the rate is copied from the configuration when
    the member registers, so changing it later does not change past years."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="konsulta_registrations"
    )
    coverage = models.OneToOneField(
        Coverage, on_delete=models.PROTECT, related_name="konsulta_registration"
    )
    year = models.PositiveSmallIntegerField("validity year")
    registered_on = models.DateField("registration / assignment date")
    capitation_rate = models.DecimalField(**MONEY)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-year", "-registered_on", "-id"]
        indexes = [models.Index(fields=["year", "registered_on"], name="billing_konsulta_year")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "year"], name="billing_konsulta_one_per_member_year"
            ),
            models.CheckConstraint(
                condition=Q(capitation_rate__gte=0), name="billing_konsulta_rate_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(year__gte=2020, year__lte=2100), name="billing_konsulta_year_range"
            ),
            models.CheckConstraint(
                condition=Q(registered_on__year__lte=F("year")),
                name="billing_konsulta_registered_by_year",
            ),
        ]

    def __str__(self) -> str:
        return f"Konsulta {self.year} · {self.coverage.member_id}"


class KonsultaCapitation(models.Model):
    """Capitation received from PhilHealth for a year (a tranche), posted like a
    remittance: once per payer reference."""

    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="capitations")
    year = models.PositiveSmallIntegerField("for year")
    reference = models.CharField(max_length=60)
    received_on = models.DateField()
    amount = models.DecimalField(**MONEY)
    members = models.PositiveIntegerField(
        null=True, blank=True, help_text="Members the tranche is for, as PhilHealth states it."
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["payer", "reference"], name="billing_capitation_ref_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_capitation_positive"),
            models.CheckConstraint(
                condition=Q(year__gte=2020, year__lte=2100), name="billing_capitation_year_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.year})"


# --- Charges -------------------------------------------------------------------------


class ChargeStatus(models.TextChoices):
    UNBILLED = "unbilled", "Unbilled"
    BILLED = "billed", "On an invoice"
    REVERSED = "reversed", "Reversed"


class Charge(models.Model):
    """One billable event. ``source_key`` ("appointment:12", "tooth:88", "dispense:301", …)
    is unique, so an event is charged exactly once however often it is announced or
    reconciled."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="charges"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="charges")
    source_key = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal("1"))
    unit_cost = models.DecimalField(**MONEY, null=True, blank=True)
    occurred_on = models.DateField()
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ChargeStatus.choices, default=ChargeStatus.UNBILLED
    )
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversal_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_on", "-id"]
        indexes = [
            models.Index(fields=["status", "occurred_on"]),
            models.Index(fields=["patient", "occurred_on"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="billing_charge_qty_positive"),
            models.CheckConstraint(
                condition=Q(status__in=ChargeStatus.values), name="billing_charge_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.description


# --- Document numbers -----------------------------------------------------------------


class NumberSeries(models.Model):
    """The next number of one series in one year. Issuing locks this row
    (``select_for_update``) in the issuing transaction, so numbers are gap-free and unique."""

    series = models.CharField(max_length=10)
    year = models.PositiveSmallIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="billing_series_year_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year} at {self.last_value}"


# --- Invoices --------------------------------------------------------------------------


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    WRITTEN_OFF = "written_off", "Written off"


OPEN_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)
POSTED_STATUSES = (
    InvoiceStatus.ISSUED,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.PAID,
    InvoiceStatus.WRITTEN_OFF,
)


class StatutoryDiscount(models.TextChoices):
    NONE = "", "None"
    SENIOR = "senior", "Senior citizen (RA 9994)"
    PWD = "pwd", "Person with disability (RA 10754)"


class Invoice(models.Model):
    """One invoice per patient per visit day (charges of the same day join the open draft).

    The patient owes ``patient_due`` = patient share + share moved back from payers −
    credit notes − write-off; ``balance`` = ``patient_due`` − ``amount_paid``.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="invoices"
    )
    visit_day = models.DateField()
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    number = models.CharField(max_length=30, null=True, blank=True, unique=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    statutory_discount = models.CharField(
        max_length=8, choices=StatutoryDiscount.choices, blank=True, default=""
    )
    statutory_id_number = models.CharField("senior / PWD ID number", max_length=40, blank=True)
    # The payer coverage applied to this invoice's lines (one payer per invoice).
    coverage = models.ForeignKey(
        Coverage, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    gross_total = models.DecimalField(**MONEY, default=ZERO)
    discount_total = models.DecimalField(**MONEY, default=ZERO)  # discounts + VAT exemption
    vat_total = models.DecimalField(**MONEY, default=ZERO)
    net_total = models.DecimalField(**MONEY, default=ZERO)
    payer_total = models.DecimalField(**MONEY, default=ZERO)
    patient_total = models.DecimalField(**MONEY, default=ZERO)
    moved_to_patient = models.DecimalField(**MONEY, default=ZERO)
    credited = models.DecimalField(**MONEY, default=ZERO)
    written_off = models.DecimalField(**MONEY, default=ZERO)
    amount_paid = models.DecimalField(**MONEY, default=ZERO)
    # What the patient still owes on a posted invoice (0 on drafts and voids): computed and
    # stored by PostgreSQL in the same statement that changes any of its sources (allocations,
    # credit notes, write-offs, moved payer shares update those columns in their transaction),
    # so it can never drift; AR ageing and the open-invoice list read it from a covering index.
    open_balance = models.GeneratedField(
        expression=Case(
            When(
                Q(status__in=["draft", "void"]),
                then=Value(ZERO),
            ),
            default=F("patient_total")
            + F("moved_to_patient")
            - F("credited")
            - F("written_off")
            - F("amount_paid"),
        ),
        output_field=models.DecimalField(**MONEY),
        db_persist=True,
    )
    void_reason = models.CharField(max_length=200, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-visit_day", "-id"]
        indexes = [
            models.Index(fields=["status", "-visit_day"], name="billing_inv_status_day"),
            # A patient's invoices in the list's order (the account tab's page): read in
            # order by the plan PostgreSQL keeps for its prepared statement, whoever the
            # patient (by visit day alone it sorted a long-standing patient's invoices).
            models.Index(
                fields=["patient", "-visit_day", "-id"], name="billing_inv_patient_day_id"
            ),
            models.Index(fields=["issued_at"], name="billing_inv_issued_at"),
            # Every invoice in the list's display order (the unfiltered list's page).
            models.Index(fields=["-visit_day", "-id"], name="billing_inv_day_id"),
            # Open invoices only (~40 % of rows): the open list in its display order, and AR
            # ageing grouped by patient, both answered from the index alone.
            models.Index(
                fields=["-visit_day", "-id"],
                name="billing_inv_open_list",
                condition=Q(status__in=["issued", "partially_paid"]),
                include=["patient", "open_balance", "net_total", "patient_total"],
            ),
            models.Index(
                fields=["patient", "visit_day"],
                name="billing_inv_open_ageing",
                condition=Q(status__in=["issued", "partially_paid"]),
                include=["open_balance"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="billing_invoice_status_valid"
            ),
            # One open draft per patient per visit day: concurrent charges join it.
            models.UniqueConstraint(
                fields=["patient", "visit_day"],
                condition=Q(status="draft"),
                name="billing_invoice_one_draft_per_day",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", number__isnull=True)
                | (~Q(status="draft") & Q(number__isnull=False) & Q(issued_at__isnull=False)),
                name="billing_invoice_number_iff_issued",
            ),
            models.CheckConstraint(
                condition=Q(net_total=F("gross_total") - F("discount_total")),
                name="billing_invoice_net_is_gross_less_discount",
            ),
            models.CheckConstraint(
                condition=Q(net_total=F("payer_total") + F("patient_total")),
                name="billing_invoice_shares_add_up",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0, credited__gte=0, written_off__gte=0),
                name="billing_invoice_amounts_not_negative",
            ),
            # Never over-allocated: paid never exceeds what the patient owes.
            models.CheckConstraint(
                condition=Q(
                    amount_paid__lte=F("patient_total")
                    + F("moved_to_patient")
                    - F("credited")
                    - F("written_off")
                ),
                name="billing_invoice_not_overpaid",
            ),
            models.CheckConstraint(
                condition=~Q(status="void") | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="billing_invoice_void_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft invoice #{self.pk}"

    @property
    def patient_due(self) -> Decimal:
        return self.patient_total + self.moved_to_patient - self.credited - self.written_off

    @property
    def balance(self) -> Decimal:
        if self.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            return ZERO
        return self.patient_due - self.amount_paid

    @property
    def is_draft(self) -> bool:
        return self.status == InvoiceStatus.DRAFT


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    charge = models.ForeignKey(
        Charge, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    # Set when the invoice is voided: its charges may then be billed again.
    voided = models.BooleanField(default=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal("1"))
    unit_price = models.DecimalField(**MONEY)
    price_override_reason = models.CharField(max_length=200, blank=True)
    covered_by_fee = models.BooleanField(
        default=False, help_text="Within the term's covered visits."
    )
    covered_by_capitation = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A Konsulta member's covered service: paid by PhilHealth's capitation (₱0).",
    )
    vat_exempt = models.BooleanField(default=True)
    gross = models.DecimalField(**MONEY)
    vat_exemption = models.DecimalField(**MONEY, default=ZERO)
    discount = models.DecimalField(**MONEY, default=ZERO)
    discount_kind = models.CharField(max_length=8, blank=True)
    net = models.DecimalField(**MONEY)
    vat = models.DecimalField(**MONEY, default=ZERO)
    coverage = models.ForeignKey(
        Coverage, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    payer_share = models.DecimalField(**MONEY, default=ZERO)
    patient_share = models.DecimalField(**MONEY)
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge"], condition=Q(voided=False), name="billing_line_charge_billed_once"
            ),
            models.CheckConstraint(
                condition=Q(net=F("gross") - F("vat_exemption") - F("discount")),
                name="billing_line_net_is_gross_less_discounts",
            ),
            models.CheckConstraint(
                condition=Q(net=F("payer_share") + F("patient_share")),
                name="billing_line_shares_add_up",
            ),
            models.CheckConstraint(
                condition=Q(gross__gte=0, net__gte=0, payer_share__gte=0, patient_share__gte=0),
                name="billing_line_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(payer_share=0) | Q(coverage__isnull=False),
                name="billing_line_payer_share_needs_coverage",
            ),
        ]

    @property
    def total_discount(self) -> Decimal:
        return self.discount + self.vat_exemption

    def __str__(self) -> str:
        return self.description


class CreditNote(models.Model):
    """A correction of an issued invoice (its own gap-free ``CN-`` number)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=30, unique=True)
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_credit_note_positive")
        ]

    def __str__(self) -> str:
        return self.number


class ApprovalStatus(models.TextChoices):
    REQUESTED = "requested", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class WriteOff(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_offs")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_writeoff_positive"),
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status="requested"),
                name="billing_writeoff_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"Write-off {self.amount} ({self.get_status_display()})"


# --- Payments -------------------------------------------------------------------------


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    GCASH = "gcash", "GCash"
    MAYA = "maya", "Maya"
    BANK = "bank", "Bank transfer"


class CashierDayStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class CashierDay(models.Model):
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    business_date = models.DateField()
    opening_float = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(
        max_length=6, choices=CashierDayStatus.choices, default=CashierDayStatus.OPEN
    )
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    expected = models.JSONField(default=dict, blank=True)  # method -> "123.45" at close
    counted = models.JSONField(default=dict, blank=True)
    close_note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-business_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cashier"], condition=Q(status="open"), name="billing_cashier_one_open_day"
            ),
            models.CheckConstraint(
                condition=Q(opening_float__gte=0), name="billing_cashier_float_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.business_date:%d %b %Y}"


class Payment(models.Model):
    """Money received from a patient. ``unallocated`` is the patient's credit from it
    (overpayment), less what was refunded."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="payments"
    )
    cashier_day = models.ForeignKey(CashierDay, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=8, choices=PaymentMethod.choices)
    reference = models.CharField(max_length=60, blank=True)
    amount = models.DecimalField(**MONEY)
    unallocated = models.DecimalField(**MONEY, default=ZERO)
    refunded = models.DecimalField(**MONEY, default=ZERO)
    receipt_number = models.CharField(max_length=30, unique=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-received_at"], name="billing_pay_patient_time"),
            models.Index(fields=["received_at"], name="billing_pay_time"),
            # A cashier day's latest payments (the cashier's page: its day is a subquery
            # there, so the planner must not walk every payment by time instead).
            models.Index(fields=["cashier_day", "-received_at"], name="billing_pay_day_time"),
            # A patient's credit (the account page sums it): the few payments holding some.
            models.Index(
                fields=["patient"],
                include=["unallocated"],
                condition=Q(unallocated__gt=0),
                name="billing_pay_patient_credit",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_positive"),
            models.CheckConstraint(
                condition=Q(unallocated__gte=0, refunded__gte=0)
                & Q(unallocated__lte=F("amount") - F("refunded")),
                name="billing_payment_unallocated_in_range",
            ),
            models.CheckConstraint(
                condition=Q(method="cash") | ~Q(reference=""),
                name="billing_payment_reference_unless_cash",
            ),
        ]

    def __str__(self) -> str:
        return self.receipt_number


class Allocation(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice"]), models.Index(fields=["payment"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_allocation_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} to invoice {self.invoice_id}"


class Refund(models.Model):
    """Money given back from a payment's unallocated credit, to the method used; needs the
    administrator's approval."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_refund_positive")
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} ({self.get_status_display()})"


# --- Claims ---------------------------------------------------------------------------


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    DENIED = "denied", "Denied"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"


CLAIM_TRANSITIONS: dict[str, tuple[str, ...]] = {
    ClaimStatus.DRAFT: (ClaimStatus.SUBMITTED,),
    ClaimStatus.SUBMITTED: (ClaimStatus.ACCEPTED, ClaimStatus.DENIED),
    ClaimStatus.ACCEPTED: (ClaimStatus.DENIED,),
    ClaimStatus.DENIED: (ClaimStatus.SUBMITTED,),  # corrected and resubmitted
    # Part of it denied (paid less than claimed, the rest still outstanding): corrected and
    # resubmitted for the rest.
    ClaimStatus.PARTIALLY_PAID: (ClaimStatus.SUBMITTED,),
    ClaimStatus.PAID: (),
}
# Whose lines may be corrected (amount, ICD-10 code, service) before resubmission. Draft
# lines come from the invoice; submitted and accepted claims are with the payer: immutable.
CLAIM_CORRECTABLE = (ClaimStatus.DENIED, ClaimStatus.PARTIALLY_PAID)


class DenialCode(models.TextChoices):
    NOT_ELIGIBLE = "not_eligible", "Member not eligible on the service date"
    NO_LOA = "no_loa", "No valid letter of authorisation"
    NOT_COVERED = "not_covered", "Service not covered"
    CAP_REACHED = "cap_reached", "Benefit limit reached"
    DUPLICATE = "duplicate", "Duplicate claim"
    INCOMPLETE = "incomplete", "Incomplete documents"


class Claim(models.Model):
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="claims")
    coverage = models.ForeignKey(Coverage, on_delete=models.PROTECT, related_name="claims")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="claims")
    number = models.CharField(max_length=30, unique=True)
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT)
    loa_number = models.CharField(max_length=60, blank=True)
    total = models.DecimalField(**MONEY, default=ZERO)
    paid = models.DecimalField(**MONEY, default=ZERO)
    adjusted = models.DecimalField(**MONEY, default=ZERO)  # contractual write-off
    moved_to_patient = models.DecimalField(**MONEY, default=ZERO)
    denial_code = models.CharField(max_length=16, choices=DenialCode.choices, blank=True)
    denial_note = models.CharField(max_length=200, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submissions = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "payer"], name="billing_claim_status_payer"),
            models.Index(fields=["patient"], name="billing_claim_patient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ClaimStatus.values), name="billing_claim_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(paid__gte=0, adjusted__gte=0, moved_to_patient__gte=0)
                & Q(total__gte=F("paid") + F("adjusted") + F("moved_to_patient")),
                name="billing_claim_settled_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(status="denied") | ~Q(denial_code=""),
                name="billing_claim_denial_has_code",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.paid - self.adjusted - self.moved_to_patient


class ClaimLine(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.OneToOneField(
        InvoiceLine, on_delete=models.PROTECT, related_name="claim_line"
    )
    amount = models.DecimalField(**MONEY)
    # Set by a correction: the diagnosis the payer is told, and the service claimed when it
    # differs from the invoice line's (null = the invoice line's own).
    icd10 = models.ForeignKey(
        "patients.Icd10Code", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_claimline_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} on claim {self.claim_id}"

    @property
    def claimed_service(self):
        return self.service or self.invoice_line.service


class ClaimLineChange(models.Model):
    """One field of a claim line changed by a correction: who, when, from what to what, why.
    Append-only (nothing updates or deletes these rows)."""

    class Field(models.TextChoices):
        AMOUNT = "amount", "Amount"
        ICD10 = "icd10", "ICD-10 code"
        SERVICE = "service", "Service"

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="line_changes")
    line = models.ForeignKey(ClaimLine, on_delete=models.PROTECT, related_name="changes")
    submission = models.PositiveSmallIntegerField(help_text="Corrects this submission.")
    field = models.CharField(max_length=8, choices=Field.choices)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(field__in=["amount", "icd10", "service"]),
                name="billing_claimlinechange_field_valid",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""), name="billing_claimlinechange_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()}: {self.old_value or '—'} → {self.new_value or '—'}"


class ClaimEvent(models.Model):
    """The claim's history: every status change, with who and why."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or 'new'} → {self.to_status}"


class Remittance(models.Model):
    """One payment from a payer, posted across many claims."""

    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="remittances")
    reference = models.CharField(max_length=60)
    received_on = models.DateField()
    amount = models.DecimalField(**MONEY)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["payer", "reference"], name="billing_remittance_ref_unique"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="billing_remittance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class RemittanceLine(models.Model):
    remittance = models.ForeignKey(Remittance, on_delete=models.PROTECT, related_name="lines")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="remittance_lines")
    paid = models.DecimalField(**MONEY, default=ZERO)
    contractual_adjustment = models.DecimalField(**MONEY, default=ZERO)
    patient_responsibility = models.DecimalField(**MONEY, default=ZERO)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    paid__gte=0, contractual_adjustment__gte=0, patient_responsibility__gte=0
                ),
                name="billing_remittance_line_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.paid} on claim {self.claim_id}"


# --- Statements -----------------------------------------------------------------------


class StatementSend(models.Model):
    """Claimed before a monthly statement is emailed: at most one per patient per month."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    month = models.DateField()  # first day of the statement's month
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "month"], name="billing_statement_once_a_month"
            )
        ]

    def __str__(self) -> str:
        return f"Statement {self.month:%Y-%m} for {self.patient_id}"


# --- Open balances (receivables summary) ------------------------------------------------
#
# What the open invoices (issued, partially paid) add up to, by visit day and by patient,
# kept by PostgreSQL triggers on ``billing_invoice`` (migration 0005) in the same statement
# as every insert, update or delete of an invoice, whatever wrote it (a service, the bench's
# bulk SQL, a factory). AR ageing reads a page of patients and ~730 day rows from here
# instead of every open invoice; the open-invoice list takes its count and sums from the
# day rows. ``billing check`` compares them with the invoices; ``billing rebuild-open``
# recomputes them. Never written from Python.


class OpenBalanceDay(models.Model):
    """Open invoices of one visit day: how many, and their net, patient share and balance."""

    visit_day = models.DateField(primary_key=True)
    invoices = models.IntegerField()
    net_total = models.DecimalField(max_digits=14, decimal_places=2)
    patient_total = models.DecimalField(max_digits=14, decimal_places=2)
    balance = models.DecimalField(max_digits=14, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.invoices} open on {self.visit_day}"


class OpenBalancePatient(models.Model):
    """One patient's open invoices: how many and their balance (a row only while any is
    open; no foreign-key constraint: the invoices already hold the patient)."""

    patient = models.OneToOneField(
        "patients.Patient",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    invoices = models.IntegerField()
    balance = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        # AR ageing's page: largest balance first.
        indexes = [models.Index(fields=["-balance", "patient"], name="billing_open_pat_balance")]

    def __str__(self) -> str:
        return f"{self.balance} open for patient {self.patient_id}"


class OpenBalanceTotal(models.Model):
    """One row (id 1): how many patients have an open invoice. Every open-balance change
    locks it first, so concurrent writers queue here instead of deadlocking on the day and
    patient rows."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    patients = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.patients} patients with open invoices"
