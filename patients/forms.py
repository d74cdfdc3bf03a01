from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.forms.models import ModelChoiceIterator
from django.utils import timezone

from patients.models import (
    VERIFICATION_CODE_PATTERN,
    AllergySeverity,
    DocumentKind,
    Fitness,
    HistoryCategory,
    Patient,
    PatientType,
    Prescription,
    ToothCondition,
    ToothProcedure,
    ToothStatus,
    Visit,
    VitalSigns,
)
from patients.services.registry import (
    CONTACT_FIELDS,
    PATIENT_FIELDS,
    id_number_clean,
    id_number_refuse_taken,
    philhealth_pin_clean,
    philhealth_pin_refuse_taken,
)
from patients.services.visits import validate_vitals
from uscpis.forms import DateField


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _not_future(value, label="Date"):
    if value and value > timezone.localdate():
        raise ValidationError(f"{label} cannot be in the future.")
    return value


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "Name, ID number or email"}),
    )
    patient_type = forms.ChoiceField(
        label="Type", required=False, choices=[("", "All types"), *PatientType.choices]
    )
    college = forms.CharField(required=False, max_length=120)
    year_level = forms.IntegerField(label="Year", required=False, min_value=1, max_value=8)


class PatientForm(forms.ModelForm):
    confirm_duplicate = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Patient
        fields = PATIENT_FIELDS
        widgets = {
            "birth_date": DateInput(),
            "address": forms.Textarea(attrs={"rows": 2}),
            "philhealth_pin": forms.TextInput(
                attrs={"inputmode": "numeric", "placeholder": "12-345678901-2", "maxlength": 16}
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Typed with dashes (as printed on the card): the field takes up to 16 characters
        # and the clean method keeps the 12 digits; an existing PIN is shown formatted.
        self.fields["philhealth_pin"].max_length = 16
        self.fields["philhealth_pin"].validators = []
        if self.instance.pk and self.instance.philhealth_pin and not self.is_bound:
            self.initial["philhealth_pin"] = self.instance.philhealth_pin_display

    def clean_birth_date(self):
        return _not_future(self.cleaned_data["birth_date"], "Birth date")

    def clean_philhealth_pin(self):
        pin = philhealth_pin_clean(self.cleaned_data.get("philhealth_pin"))
        philhealth_pin_refuse_taken(pin, exclude_pk=self.instance.pk)
        return pin

    def clean_id_number(self):
        # On the field, in any letter case (the database's unique index ignores case too).
        value = id_number_clean(self.cleaned_data["id_number"])
        id_number_refuse_taken(value, exclude_pk=self.instance.pk)
        return value

    def validate_unique(self):
        # clean_id_number and the service check the ID number (case-insensitively).
        pass


class ContactForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = CONTACT_FIELDS
        widgets = {"address": forms.Textarea(attrs={"rows": 2})}


class AllergyForm(forms.Form):
    substance = forms.CharField(max_length=120)
    reaction = forms.CharField(max_length=200, required=False)
    severity = forms.ChoiceField(choices=AllergySeverity.choices, initial=AllergySeverity.MODERATE)


class HistoryForm(forms.Form):
    category = forms.ChoiceField(choices=HistoryCategory.choices)
    description = forms.CharField(max_length=255)
    year = forms.IntegerField(required=False, min_value=1900, max_value=2200)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MedicationForm(forms.Form):
    name = forms.CharField(label="Medication", max_length=150)
    dose = forms.CharField(max_length=60, required=False)
    frequency = forms.CharField(max_length=60, required=False)
    started_on = DateField(required=False, widget=DateInput())
    notes = forms.CharField(max_length=255, required=False)

    def clean_started_on(self):
        return _not_future(self.cleaned_data.get("started_on"), "Start date")


class ImmunizationForm(forms.Form):
    vaccine = forms.CharField(max_length=150)
    dose_number = forms.IntegerField(min_value=1, max_value=20, initial=1)
    given_on = DateField(widget=DateInput())
    lot_number = forms.CharField(max_length=60, required=False)
    notes = forms.CharField(max_length=255, required=False)

    def clean_given_on(self):
        return _not_future(self.cleaned_data.get("given_on"), "Date given")


class VisitNotesForm(forms.ModelForm):
    class Meta:
        model = Visit
        fields = [
            "chief_complaint",
            "subjective",
            "objective",
            "assessment",
            "plan",
            "follow_up",
            "follow_up_on",
        ]
        labels = {
            "subjective": "S — Subjective",
            "objective": "O — Objective",
            "assessment": "A — Assessment",
            "plan": "P — Plan / treatment",
        }
        widgets = {
            "subjective": forms.Textarea(attrs={"rows": 3}),
            "objective": forms.Textarea(attrs={"rows": 3}),
            "assessment": forms.Textarea(attrs={"rows": 3}),
            "plan": forms.Textarea(attrs={"rows": 3}),
            "follow_up_on": DateInput(),
        }


class DentalNotesForm(forms.ModelForm):
    class Meta:
        model = Visit
        fields = [
            "chief_complaint",
            "subjective",
            "assessment",
            "treatment_performed",
            "treatment_planned",
            "follow_up",
            "follow_up_on",
        ]
        widgets = {
            "subjective": forms.Textarea(attrs={"rows": 2}),
            "assessment": forms.Textarea(attrs={"rows": 2}),
            "treatment_performed": forms.Textarea(attrs={"rows": 3}),
            "treatment_planned": forms.Textarea(attrs={"rows": 3}),
            "follow_up_on": DateInput(),
        }


class VitalsForm(forms.ModelForm):
    class Meta:
        model = VitalSigns
        fields = [
            "temperature_c",
            "systolic",
            "diastolic",
            "pulse",
            "respiratory_rate",
            "spo2",
            "height_cm",
            "weight_kg",
        ]
        labels = {
            "temperature_c": "Temperature (°C)",
            "systolic": "BP systolic",
            "diastolic": "BP diastolic",
            "respiratory_rate": "Resp. rate",
            "height_cm": "Height (cm)",
            "weight_kg": "Weight (kg)",
        }

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                validate_vitals(data)
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    self.add_error(None if key == "__all__" else key, messages)
        return data

    def validate_constraints(self, exclude=None):
        pass  # validate_vitals gives friendlier messages; the database still enforces them


class DiagnosisForm(forms.Form):
    code = forms.CharField(
        label="ICD-10 code",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Code or words"}),
    )
    is_primary = forms.BooleanField(label="Primary diagnosis", required=False)
    note = forms.CharField(max_length=255, required=False)


class PrescriptionForm(forms.ModelForm):
    class Meta:
        model = Prescription
        fields = ["drug_name", "dose", "route", "frequency", "duration", "quantity", "instructions"]
        labels = {"drug_name": "Drug"}

    def validate_constraints(self, exclude=None):
        pass


class ToothForm(forms.Form):
    condition = forms.ChoiceField(choices=ToothCondition.choices)
    surfaces = forms.CharField(max_length=5, required=False, help_text="Any of M O D B L")
    procedure = forms.ChoiceField(choices=ToothProcedure.choices, required=False)
    procedure_status = forms.ChoiceField(choices=[("", "—"), *ToothStatus.choices], required=False)
    notes = forms.CharField(max_length=255, required=False)


class AddendumForm(forms.Form):
    text = forms.CharField(
        label="Addendum", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )


class _FirstRowsChoiceIterator(ModelChoiceIterator):
    def __init__(self, field):
        super().__init__(field)
        self.queryset = field.queryset[: field.display_limit]


class RecentModelChoiceField(forms.ModelChoiceField):
    """Lists only the first ``display_limit`` rows of its (ordered) queryset but accepts any
    row of it. Slicing the queryset itself would break validation, which looks the chosen
    row up with ``.get()`` on it: every choice would be refused."""

    iterator = _FirstRowsChoiceIterator

    def __init__(self, queryset, *, display_limit: int = 50, **kwargs):
        self.display_limit = display_limit
        super().__init__(queryset, **kwargs)


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(choices=DocumentKind.choices)
    title = forms.CharField(max_length=150, required=False)
    file = forms.FileField(help_text="PDF, PNG, JPEG, TIFF or DICOM, up to 10 MB.")
    visit = RecentModelChoiceField(
        queryset=Visit.objects.none(), required=False, label="Linked visit", display_limit=50
    )

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            # The 50 most recent visits are offered; any of the patient's visits is valid.
            self.fields["visit"].queryset = Visit.objects.filter(patient=patient).order_by(
                "-started_at", "-id"
            )


class CertificateRequestForm(forms.Form):
    purpose = forms.CharField(
        max_length=200, help_text="For example: PE class clearance, on-the-job training."
    )


class CertificateDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect
    )
    findings = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    fitness = forms.ChoiceField(choices=[("", "—"), *Fitness.choices], required=False)
    fitness_reason = forms.CharField(max_length=255, required=False, label="Reason (if not fit)")
    valid_from = DateField(required=False, widget=DateInput())
    valid_until = DateField(required=False, widget=DateInput())
    recommendations = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    rejection_reason = forms.CharField(max_length=255, required=False)


class CertificateRevokeForm(forms.Form):
    revoke_reason = forms.CharField(
        max_length=255,
        label="Reason for revoking",
        help_text="Kept in the record for staff; never shown on the public verification page.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SignupForm(forms.Form):
    email = forms.EmailField(label="Institutional email")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), min_length=12
    )
    id_number = forms.CharField(label="ID number", max_length=32)
    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    sex = forms.ChoiceField(choices=Patient._meta.get_field("sex").choices)
    birth_date = DateField(widget=DateInput())
    patient_type = forms.ChoiceField(choices=PatientType.choices)

    def clean_birth_date(self):
        return _not_future(self.cleaned_data["birth_date"], "Birth date")

    def clean_id_number(self):
        # Characters only: whether the number is registered is never said here.
        return id_number_clean(self.cleaned_data["id_number"])


class VerifyLookupForm(forms.Form):
    code = forms.CharField(
        label="Verification code",
        max_length=16,
        validators=[
            RegexValidator(
                rf"\A{VERIFICATION_CODE_PATTERN}\Z",
                "A verification code has only letters and digits, as printed on the certificate.",
            )
        ],
    )

    def clean_code(self):
        return self.cleaned_data["code"].upper()


class PortalAccountSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "Name or email"}),
    )
    for_patient = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class LinkPatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name, ID number or email",
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "e.g. Dela Cruz or 20231234"}),
    )


class AccountLinkForm(forms.Form):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.all(),
        widget=forms.HiddenInput,
        error_messages={
            "required": "Choose the patient's record first.",
            "invalid_choice": "Choose the patient's record from the search results.",
        },
    )
    identity_checked = forms.BooleanField(
        label="I have checked this person's university ID against the record",
        error_messages={
            "required": "Confirm that you checked the person's ID: once linked, they see this "
            "whole health record."
        },
    )
