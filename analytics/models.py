"""Analytics: derived, rebuildable tables. Nothing here is a source of truth.

* Daily rollups (``VisitFact``, ``DiagnosisFact``, ``StockFact``, ``SyndromeDaily``): one
  row per clinic-local day and dimension combination, rebuilt one day at a time by
  ``analytics.services.rollups`` with set-based SQL. The unique constraints are what the
  ``INSERT ... ON CONFLICT`` refresh targets, so a concurrent refresh of the same day can
  never duplicate a row.
* ``SyndromeGroup``: the surveillance definitions (ICD-10 code prefixes), edited by the
  administrator; ``AberrationSignal``: one row per outbreak episode (notified once).
* ``VisitForecast`` / ``ForecastSummary`` / ``StockForecast``: computed by a beat task so the
  pages only read.
* ``WeeklyReportClaim``: one row per week, claimed before the weekly report email is sent.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

AGE_BANDS = ("<18", "18-24", "25-34", "35-49", "50-64", "65+")


def _user_fk():
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


class VisitFact(models.Model):
    """Appointments and clinical visits of one local day, per provider × appointment type ×
    visit kind × patient type × college/department × sex × age band.

    Appointment measures count appointments *scheduled* that day (by ``start``); visit
    measures count visits *started* that day. A cancelled appointment counts in
    ``appointments`` and ``cancelled`` only; booked minutes exclude cancellations."""

    day = models.DateField()
    provider = _user_fk()
    appointment_type = models.ForeignKey(
        "appointments.AppointmentType",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    visit_kind = models.CharField(max_length=10)
    patient_type = models.CharField(max_length=16)
    unit = models.CharField("college or department", max_length=120)
    sex = models.CharField(max_length=1)
    age_band = models.CharField(max_length=8)
    appointments = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    no_shows = models.IntegerField(default=0)
    walk_ins = models.IntegerField(default=0)
    booked_minutes = models.IntegerField(default=0)
    waits = models.IntegerField(default=0)
    wait_minutes = models.IntegerField(default=0)
    consults = models.IntegerField(default=0)
    consult_minutes = models.IntegerField(default=0)
    visits = models.IntegerField(default=0)
    signed_visits = models.IntegerField(default=0)
    sign_minutes = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "provider",
                    "appointment_type",
                    "visit_kind",
                    "patient_type",
                    "unit",
                    "sex",
                    "age_band",
                ],
                nulls_distinct=False,
                name="analytics_visitfact_one_row_per_cell",
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "day"]),
            models.Index(fields=["unit", "day"]),
        ]

    def __str__(self) -> str:
        return f"Visits {self.day} · {self.visit_kind} · {self.unit or '—'}"


class DiagnosisFact(models.Model):
    """Diagnoses recorded on visits started that local day, per ICD-10 code and the same
    patient dimensions as ``VisitFact``."""

    day = models.DateField()
    icd10_code = models.CharField(max_length=8)
    visit_kind = models.CharField(max_length=10)
    provider = _user_fk()
    patient_type = models.CharField(max_length=16)
    unit = models.CharField(max_length=120)
    sex = models.CharField(max_length=1)
    age_band = models.CharField(max_length=8)
    diagnoses = models.IntegerField(default=0)
    primary_diagnoses = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "icd10_code",
                    "visit_kind",
                    "provider",
                    "patient_type",
                    "unit",
                    "sex",
                    "age_band",
                ],
                nulls_distinct=False,
                name="analytics_diagnosisfact_one_row_per_cell",
            ),
        ]
        indexes = [models.Index(fields=["icd10_code", "day"])]

    def __str__(self) -> str:
        return f"{self.icd10_code} on {self.day}"


class DiagnosisMonthFact(models.Model):
    """The ``DiagnosisFact`` rows of one calendar month (``month`` is its first day) summed
    per cell, so a long range reads a few hundred rows per month instead of a few hundred
    per day. Recomputed from the daily rows whenever a day of the month is refreshed
    (``analytics.services.monthly``); a range covering part of a month adds or subtracts
    daily rows (``analytics.selectors.months``), so figures are always the daily rollup's."""

    month = models.DateField()
    icd10_code = models.CharField(max_length=8)
    visit_kind = models.CharField(max_length=10)
    provider = _user_fk()
    patient_type = models.CharField(max_length=16)
    unit = models.CharField(max_length=120)
    sex = models.CharField(max_length=1)
    age_band = models.CharField(max_length=8)
    diagnoses = models.IntegerField(default=0)
    primary_diagnoses = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "month",
                    "icd10_code",
                    "visit_kind",
                    "provider",
                    "patient_type",
                    "unit",
                    "sex",
                    "age_band",
                ],
                nulls_distinct=False,
                name="analytics_diagnosismonthfact_one_row_per_cell",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.icd10_code} in {self.month:%b %Y}"


class StockFact(models.Model):
    """Stock movements of one item on one local day (outflows as positive quantities) and
    the quantity on hand at the end of that day."""

    day = models.DateField()
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    received = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    dispensed = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    dispensed_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    expired = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    expired_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    returned = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    disposed_other = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    # Dispensings cancelled that day (the stock came back: a correcting adjustment).
    patient_returns = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    adjusted = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    closing = models.DecimalField(max_digits=14, decimal_places=3, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "item"], name="analytics_stockfact_one_per_day"),
        ]
        indexes = [
            models.Index(fields=["item", "day"]),
            # The financial page's cost of dispensed items: only the days with dispensing.
            models.Index(
                fields=["day"],
                include=["dispensed_value"],
                condition=~Q(dispensed_value=0),
                name="analytics_stockfact_disp_idx",
            ),
            # The inventory page: the days an item moved (same condition as its query).
            models.Index(
                fields=["day"],
                include=[
                    "item",
                    "dispensed",
                    "patient_returns",
                    "dispensed_value",
                    "expired_value",
                ],
                condition=~Q(dispensed=0) | ~Q(patient_returns=0) | ~Q(expired_value=0),
                name="analytics_stockfact_moved_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Item #{self.item_id} on {self.day}"


class StockMonthFact(models.Model):
    """One item's ``StockFact`` rows of one calendar month summed (``month`` is its first
    day), so a long range reads one row per item and month. Recomputed from the daily rows
    whenever a day of the month is refreshed; a range that covers part of a month adds
    that part's daily rows (or subtracts the rest of the month's), so figures are always
    the daily rollup's."""

    month = models.DateField()
    item = models.ForeignKey(
        "inventory.Item", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    days = models.IntegerField(default=0)  # daily rows summed
    moved_days = models.IntegerField(default=0)  # days it was dispensed, came back or expired
    received = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    dispensed = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    dispensed_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    expired = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    expired_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    returned = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    disposed_other = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    patient_returns = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    adjusted = models.DecimalField(max_digits=16, decimal_places=3, default=0)
    closing_sum = models.DecimalField(max_digits=18, decimal_places=3, default=0)
    stockout_days = models.IntegerField(default=0)  # days that closed at zero or below

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "item"], name="analytics_stockmonthfact_one_per_month"
            ),
        ]
        indexes = [
            # The inventory page: the months an item moved (index-only).
            models.Index(
                fields=["month"],
                include=[
                    "item",
                    "moved_days",
                    "dispensed",
                    "patient_returns",
                    "dispensed_value",
                    "expired_value",
                ],
                condition=Q(moved_days__gt=0),
                name="analytics_stockmonth_moved_idx",
            ),
            # The financial page's cost of dispensed items.
            models.Index(
                fields=["month"],
                include=["dispensed_value"],
                condition=~Q(dispensed_value=0),
                name="analytics_stockmonth_disp_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Item #{self.item_id} in {self.month:%b %Y}"


class StockMonthTotal(models.Model):
    """Every item's ``StockMonthFact`` of one month summed (the financial page's cost of
    everything dispensed), recomputed with them."""

    month = models.DateField(unique=True)
    dispensed_value = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"Stock in {self.month:%b %Y}"


class SyndromeGroup(models.Model):
    """A surveillance syndrome: visits with any diagnosis whose ICD-10 code starts with one
    of ``icd10_prefixes`` (``J10`` matches ``J10``, ``J10.1``...)."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80, unique=True)
    icd10_prefixes = ArrayField(models.CharField(max_length=8), default=list)
    is_active = models.BooleanField(default=True)
    min_cases = models.PositiveSmallIntegerField(
        default=3, help_text="A day needs at least this many cases to raise a signal."
    )
    updated_by = _user_fk()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(icd10_prefixes__len__gt=0), name="analytics_syndrome_has_codes"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def prefixes_label(self) -> str:
        return ", ".join(self.icd10_prefixes)


class SyndromeDaily(models.Model):
    """Visits (not diagnoses: one visit counts once) matching a syndrome on one local day.
    Days without a case have no row."""

    day = models.DateField()
    group = models.ForeignKey(SyndromeGroup, on_delete=models.CASCADE, related_name="daily")
    cases = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "day"], name="analytics_syndrome_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.cases} case(s) on {self.day}"


class RollupDay(models.Model):
    """When each day's rollups were last refreshed (the pages say "figures as of")."""

    day = models.DateField(unique=True)
    refreshed_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Rollups of {self.day}"


class AberrationSignal(models.Model):
    """One outbreak episode of a syndrome: it opens on the first day an EARS method flags and
    stays open while flags recur within ``EPISODE_GAP_DAYS``. The unique constraint on
    (group, started_on) and the guarded claim of ``notified_at`` make a re-run or a
    concurrent beat record and notify it once."""

    group = models.ForeignKey(SyndromeGroup, on_delete=models.CASCADE, related_name="signals")
    started_on = models.DateField()
    last_on = models.DateField()
    methods = ArrayField(models.CharField(max_length=4), default=list)
    observed = models.IntegerField()
    threshold = models.FloatField()
    peak = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_on", "group__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "started_on"], name="analytics_signal_one_per_episode"
            ),
            models.CheckConstraint(
                condition=Q(last_on__gte=F("started_on")), name="analytics_signal_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} signal from {self.started_on}"


class ForecastSummary(models.Model):
    """The chosen model for one series (visit kind × granularity) and its backtest error."""

    kind = models.CharField(max_length=10)  # all | medical | dental
    granularity = models.CharField(max_length=5)  # day | week
    method = models.CharField(max_length=20)
    mape = models.FloatField(null=True)
    naive_mape = models.FloatField(null=True)
    ets_mape = models.FloatField(null=True)
    last_year_mape = models.FloatField(null=True)
    history_days = models.IntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "granularity"], name="analytics_forecast_summary_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.granularity}: {self.method}"


class VisitForecast(models.Model):
    kind = models.CharField(max_length=10)
    granularity = models.CharField(max_length=5)
    period_start = models.DateField()
    expected = models.FloatField()
    low80 = models.FloatField()
    high80 = models.FloatField()

    class Meta:
        ordering = ["kind", "granularity", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "granularity", "period_start"], name="analytics_forecast_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.granularity} {self.period_start}: {self.expected:.1f}"


class StockForecast(models.Model):
    """When an item runs out at its recent rate of use, counting stock on order."""

    item = models.OneToOneField(
        "inventory.Item", on_delete=models.CASCADE, related_name="analytics_forecast"
    )
    daily_use = models.DecimalField(max_digits=14, decimal_places=3)
    on_hand = models.DecimalField(max_digits=14, decimal_places=3)
    on_order = models.DecimalField(max_digits=14, decimal_places=3)
    days_left = models.IntegerField(null=True)
    days_left_with_orders = models.IntegerField(null=True)
    runs_out_on = models.DateField(null=True)
    reorder_by = models.DateField(null=True)
    backtest_error_pct = models.FloatField(null=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["days_left", "item__name"]

    def __str__(self) -> str:
        return f"Item #{self.item_id}: {self.days_left} day(s) left"


class WeeklyReportClaim(models.Model):
    """Claimed (inserted) before the weekly report is sent: a second beat finds the row."""

    week_start = models.DateField(unique=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"Weekly report of {self.week_start}"


class BillingFact(models.Model):
    """Invoice lines of invoices issued that local day (void invoices and voided lines left
    out), per service × payer (none = self-pay) × provider. ``cost`` is the charges' unit
    cost × quantity (dispensed items), for margins."""

    day = models.DateField()
    service = models.ForeignKey(
        "billing.Service", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    service_group = models.CharField(max_length=16)
    payer = models.ForeignKey(
        "billing.Payer",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    provider = _user_fk()
    lines = models.IntegerField(default=0)
    gross = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    discount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    payer_share = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    patient_share = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "service", "payer", "provider"],
                nulls_distinct=False,
                name="analytics_billingfact_one_row_per_cell",
            ),
        ]

    def __str__(self) -> str:
        return f"Billing {self.day} · service #{self.service_id}"


class PaymentFact(models.Model):
    """Payments received that local day, per method (collections)."""

    day = models.DateField()
    method = models.CharField(max_length=8)
    payments = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    refunded = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "method"], name="analytics_paymentfact_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"Payments {self.day} · {self.method}"


RECEIVABLE_BUCKETS = ("0-30", "31-60", "61-90", "91+")


class ReceivableFact(models.Model):
    """What was owed at the end of one local day, per payer × ageing bucket.

    ``payer`` empty: patients (the patient share of posted invoices, less allocations,
    credit notes and approved write-offs dated up to that day; void invoices drop out on
    the day they were voided). ``payer`` set: that payer's claims (claim total less the
    remittance lines received up to that day). Age = days from the invoice's issue (the
    claim's creation) to ``day``."""

    day = models.DateField()
    payer = models.ForeignKey(
        "billing.Payer",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    bucket = models.CharField(max_length=8)
    documents = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "payer", "bucket"],
                nulls_distinct=False,
                name="analytics_receivablefact_one_row_per_cell",
            ),
        ]

    def __str__(self) -> str:
        return f"Receivables {self.day} · {self.bucket}"


class QualityFact(models.Model):
    """Rows that make the figures wrong, per local day and problem: signed visits started
    that day without a diagnosis (``no-diagnosis``), completed appointments of that day
    without a visit (``no-visit``), dispensings that day without a patient
    (``no-patient``). Days without a problem have no row."""

    day = models.DateField()
    problem = models.CharField(max_length=16)
    rows = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "problem"], name="analytics_qualityfact_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.problem} on {self.day}: {self.rows}"
