"""Patient records. The registry (``Patient``) is the root every other domain links to."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.roles import user_has_perm


def normalize_search(text: str) -> str:
    """Lower-case, accent-free text for case- and accent-insensitive search (José → jose)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


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


class PatientQuerySet(models.QuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """Patients ``user`` may see: all for staff with demographics access, else their own."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user_has_perm(user, "patients.view_demographics"):
            return self.all()
        if user_has_perm(user, "patients.portal"):
            return self.filter(user=user)
        return self.none()


class Patient(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
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
    patient_type = models.CharField(max_length=16, choices=PatientType.choices, default=PatientType.STUDENT)
    college = models.CharField(max_length=120, blank=True)
    course = models.CharField(max_length=120, blank=True)
    year_level = models.PositiveSmallIntegerField(null=True, blank=True)
    department = models.CharField(max_length=120, blank=True)
    emergency_contact_name = models.CharField(max_length=150, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    emergency_contact_relation = models.CharField(max_length=60, blank=True)
    blood_type = models.CharField(max_length=3, choices=BloodType.choices, blank=True, default="")
    # Normalised "last first middle id email" kept by the services for accent-free search.
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(year_level__isnull=True) | models.Q(year_level__gte=1, year_level__lte=8),
                name="patients_patient_year_level_range",
            ),
            models.CheckConstraint(condition=models.Q(sex__in=Sex.values), name="patients_patient_sex_valid"),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            models.Index(fields=["patient_type", "college", "year_level"]),
            models.Index(fields=["birth_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.id_number})"

    @property
    def full_name(self) -> str:
        middle = f" {self.middle_name[0]}." if self.middle_name else ""
        return f"{self.first_name}{middle} {self.last_name}"

    @property
    def age(self) -> int:
        today = timezone.localdate()
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    def refresh_search_text(self) -> None:
        self.search_text = normalize_search(
            " ".join([self.last_name, self.first_name, self.middle_name, self.id_number, self.email])
        )
