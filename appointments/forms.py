from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from appointments import conf, picker
from appointments.models import (
    AppointmentStatus,
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WeeklyAvailability,
)
from appointments.slots import parse_slot_value
from patients.models import Patient
from uscpis.forms import DateField, LoadedModelChoiceField


class DateInput(forms.DateInput):
    input_type = "date"


class SlotPickerForm(forms.Form):
    """Step 1–2 of booking: the type, a provider or "any", and the week to show (GET)."""

    # Short lists read once per form (uscpis.forms.LoadedModelChoiceField): the booking
    # pages render this form on every step.
    type = LoadedModelChoiceField(
        queryset=AppointmentType.objects.none(),
        empty_label="Choose a type…",
        label="Appointment type",
    )
    provider = LoadedModelChoiceField(
        queryset=ProviderProfile.objects.none(),
        required=False,
        empty_label="Any available provider",
        label="Provider",
    )
    date = DateField(required=False, widget=DateInput, label="From")

    def __init__(self, *args, staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        types = AppointmentType.objects.filter(is_active=True)
        self.fields["type"].queryset = types if staff else types.filter(self_bookable=True)
        self.fields["provider"].queryset = ProviderProfile.objects.filter(
            is_active=True, user__is_active=True
        ).select_related("user")
        # Both lists (and who performs what) come from the shared schedule cache.
        self.choices = picker.choices()
        self.fields["type"].preload(self.choices.types_for(staff=staff))
        self.fields["provider"].preload(self.choices.bookable_providers())
        self.fields["provider"].label_from_instance = lambda p: (
            f"{p.display_name} ({p.user.get_role_display()})"
        )

    def clean(self):
        data = super().clean()
        t, p = data.get("type"), data.get("provider")
        if t and p and not self.choices.performs(p, t):
            self.add_error(
                "provider", f"{p.display_name} does not perform {t.name.lower()} appointments."
            )
        today = timezone.localdate()
        d = data.get("date") or today
        data["date"] = max(d, today)
        return data


class BookForm(forms.Form):
    """Step 3–4: the chosen slot and the reason (POST). The slot value is re-validated."""

    type = forms.ModelChoiceField(queryset=AppointmentType.objects.filter(is_active=True))
    slot = forms.CharField(max_length=64, error_messages={"required": "Choose a time."})
    reason = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Reason for the visit",
    )

    def clean_slot(self):
        provider_id, start = parse_slot_value(self.cleaned_data["slot"])
        provider = ProviderProfile.objects.select_related("user").filter(pk=provider_id).first()
        if provider is None:
            raise ValidationError("That slot is not valid. Please choose one from the list.")
        return provider, start


class StaffBookForm(BookForm):
    patient = forms.CharField(max_length=32, label="Patient ID number")

    def clean_patient(self):

        value = self.cleaned_data["patient"].strip()
        patient = Patient.objects.filter(id_number__iexact=value).first()
        if patient is None:
            raise ValidationError("No patient has that ID number.")
        return patient


class WalkInForm(forms.Form):
    patient = forms.CharField(max_length=32, label="Patient ID number")
    type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.filter(is_active=True), label="Appointment type"
    )
    provider = forms.ModelChoiceField(
        queryset=ProviderProfile.objects.filter(is_active=True).select_related("user"),
        required=False,
        empty_label="First available",
    )
    reason = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    clean_patient = StaffBookForm.clean_patient


class RescheduleForm(forms.Form):
    slot = forms.CharField(max_length=64, error_messages={"required": "Choose a new time."})

    def clean_slot(self):
        return BookForm.clean_slot(self)


class StaffRescheduleForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=ProviderProfile.objects.filter(is_active=True).select_related("user")
    )
    date = DateField(widget=DateInput)
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 300}))

    def clean(self):
        data = super().clean()
        if data.get("date") and data.get("time"):
            data["start"] = datetime.combine(data["date"], data["time"]).replace(
                tzinfo=conf.clinic_tz()
            )
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, label="Reason")


class TransitionForm(forms.Form):
    to = forms.ChoiceField(
        choices=[
            (s, s)
            for s in (
                AppointmentStatus.CONFIRMED,
                AppointmentStatus.CHECKED_IN,
                AppointmentStatus.IN_CONSULTATION,
                AppointmentStatus.COMPLETED,
                AppointmentStatus.NO_SHOW,
            )
        ]
    )


class WaitlistForm(forms.Form):
    type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.filter(is_active=True, self_bookable=True),
        label="Appointment type",
    )
    provider = forms.ModelChoiceField(
        queryset=ProviderProfile.objects.filter(is_active=True).select_related("user"),
        required=False,
        empty_label="Any provider",
    )
    date_from = DateField(widget=DateInput, label="From")
    date_to = DateField(widget=DateInput, label="To")


class HistoryFilterForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=ProviderProfile.objects.select_related("user"),
        required=False,
        empty_label="All providers",
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *AppointmentStatus.choices], required=False
    )
    type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.all(), required=False, empty_label="Any type"
    )
    date_from = DateField(required=False, widget=DateInput, label="From")
    date_to = DateField(required=False, widget=DateInput, label="To")


class ReportForm(forms.Form):
    date_from = DateField(required=False, widget=DateInput, label="From")
    date_to = DateField(required=False, widget=DateInput, label="To")

    @staticmethod
    def with_default_range(query):
        """The query with the last 30 days filled in where no dates were given, so the
        fields show the range the figures are for."""
        data = query.copy()
        today = timezone.localdate()
        if not data.get("date_from"):
            data["date_from"] = (today - timedelta(days=30)).isoformat()
        if not data.get("date_to"):
            data["date_to"] = today.isoformat()
        return data

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        data["date_from"] = data.get("date_from") or today - timedelta(days=30)
        data["date_to"] = data.get("date_to") or today
        if data["date_to"] < data["date_from"]:
            raise ValidationError("The end date is before the start date.")
        if (data["date_to"] - data["date_from"]).days > 366:
            raise ValidationError("Choose a range of at most a year.")
        return data


class WeeklyBlockForm(forms.ModelForm):
    class Meta:
        model = WeeklyAvailability
        fields = ["weekday", "start_time", "end_time"]
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time"}),
            "end_time": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean(self):
        data = super().clean()
        if (
            data.get("start_time")
            and data.get("end_time")
            and data["end_time"] <= data["start_time"]
        ):
            raise ValidationError("The block must end after it starts.")
        return data


class ExceptionForm(forms.ModelForm):
    class Meta:
        model = AvailabilityException
        fields = ["kind", "starts_at", "ends_at", "note"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("The exception must end after it starts.")
        return data


class AppointmentTypeForm(forms.ModelForm):
    provider_roles = forms.MultipleChoiceField(
        choices=AppointmentType._meta.get_field("provider_roles").base_field.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = AppointmentType
        fields = [
            "name",
            "slug",
            "description",
            "duration_minutes",
            "buffer_minutes",
            "provider_roles",
            "visit_kind",
            "self_bookable",
            "lead_time_minutes",
            "horizon_days",
            "is_active",
        ]
