"""Filter and syndrome forms."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.models import AGE_BANDS, SyndromeGroup
from analytics.selectors.common import Filters
from analytics.services.surveillance import clean_prefixes
from patients.models import PatientType, Sex
from uscpis.forms import DateField, FastSelect


class DateInput(forms.DateInput):
    input_type = "date"


class FilterForm(forms.Form):
    """The dashboards' filters; an invalid value falls back to the defaults with an error
    shown (never a 500)."""

    date_from = DateField(required=False, widget=DateInput, label="From")
    date_to = DateField(required=False, widget=DateInput, label="To")
    provider = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Provider", widget=FastSelect
    )
    patient_type = forms.ChoiceField(required=False, label="Patient type", widget=FastSelect)
    unit = forms.ChoiceField(required=False, label="College / department", widget=FastSelect)
    sex = forms.ChoiceField(required=False, label="Sex", widget=FastSelect)
    age_band = forms.ChoiceField(required=False, label="Age band", widget=FastSelect)

    def __init__(self, data=None, *, choices: dict, default_days: int = 84, show_provider=True):
        today = timezone.localdate()
        super().__init__(
            data,
            initial={"date_from": today - timedelta(days=default_days - 1), "date_to": today},
        )
        self.default_days = default_days
        self.fields["provider"].choices = [("", "All providers")] + [
            (u.pk, u.full_name) for u in choices["providers"]
        ]
        if not show_provider:
            del self.fields["provider"]
        self.fields["patient_type"].choices = [("", "All")] + list(PatientType.choices)
        self.fields["unit"].choices = [("", "All")] + [(u, u) for u in choices["units"]]
        self.fields["sex"].choices = [("", "All")] + list(Sex.choices)
        self.fields["age_band"].choices = [("", "All")] + [(b, b) for b in AGE_BANDS]

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        data["date_to"] = data.get("date_to") or today
        data["date_from"] = data.get("date_from") or data["date_to"] - timedelta(
            days=self.default_days - 1
        )
        if data["date_to"] < data["date_from"]:
            raise ValidationError("The end date is before the start date.")
        if (data["date_to"] - data["date_from"]).days > 731:
            raise ValidationError("Choose a range of at most two years.")
        return data

    def filters(self) -> Filters:
        if self.is_bound and self.is_valid():
            d = self.cleaned_data
            return Filters(
                d["date_from"],
                d["date_to"],
                d.get("provider"),
                d.get("patient_type") or "",
                d.get("unit") or "",
                d.get("sex") or "",
                d.get("age_band") or "",
            )
        today = timezone.localdate()
        return Filters(today - timedelta(days=self.default_days - 1), today)


class SyndromeForm(forms.ModelForm):
    codes = forms.CharField(
        label="ICD-10 codes or prefixes",
        help_text="Separated by commas, e.g. J10, J11, J06.9 (a prefix matches every code under it).",
        max_length=400,
    )

    class Meta:
        model = SyndromeGroup
        fields = ["name", "slug", "min_cases", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["codes"].initial = ", ".join(self.instance.icd10_prefixes)

    def clean_codes(self):

        return clean_prefixes(self.cleaned_data["codes"])

    def clean_min_cases(self):
        value = self.cleaned_data["min_cases"]
        if value < 1 or value > 100:
            raise ValidationError("Between 1 and 100.")
        return value

    def save(self, commit=True):
        self.instance.icd10_prefixes = self.cleaned_data["codes"]
        return super().save(commit=commit)
