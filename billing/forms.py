"""Billing forms: they bind and validate input shape; the services enforce the rules."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone

from billing.models import (
    ClaimStatus,
    Coverage,
    DenialCode,
    InvoiceStatus,
    Payer,
    PaymentMethod,
    Service,
    ServiceGroup,
    StatutoryDiscount,
)
from patients.models import Patient
from uscpis.forms import DateField, FastDateInput, FastNumberInput, FastSelect, FastTextInput

# The inputs billing pages show on every request drawn in Python (``uscpis.forms``: the
# markup of Django's input templates, without two template renders per field).
DATE = FastDateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MONEY_ATTRS = {"inputmode": "decimal", "step": "0.01", "min": "0"}


def money_field(label: str, *, required: bool = True, minimum: str = "0.00") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal(minimum),
        widget=FastNumberInput(attrs=MONEY_ATTRS),
    )


# The invoice list's filters, drawn by the Python widgets (same markup as Django's
# templates, tests/billing/test_billing_lists.py): the list is a page clerks reload all day.
FAST_DATE = FastDateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open (unpaid)")] + list(InvoiceStatus.choices),
        widget=FastSelect,
    )
    q = forms.CharField(
        label="Invoice no., patient or ID", required=False, max_length=100, widget=FastTextInput
    )
    date_from = DateField(label="From", required=False, widget=FAST_DATE)
    date_to = DateField(label="To", required=False, widget=FAST_DATE)


class AddLineForm(forms.Form):
    service = forms.ModelChoiceField(
        queryset=Service.objects.filter(is_active=True).order_by("name")
    )
    quantity = forms.DecimalField(
        max_digits=12,
        decimal_places=3,
        min_value=Decimal("0.001"),
        initial=1,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
    )
    unit_price = money_field("Price (blank = list price)", required=False)
    reason = forms.CharField(label="Reason for another price", required=False, max_length=200)


class PriceOverrideForm(forms.Form):
    unit_price = money_field("New unit price")
    reason = forms.CharField(max_length=200)


class TermsForm(forms.Form):
    coverage = forms.ModelChoiceField(
        queryset=Coverage.objects.none(), required=False, empty_label="Self-pay (no payer)"
    )
    statutory_discount = forms.ChoiceField(
        label="Statutory discount", required=False, choices=StatutoryDiscount.choices
    )
    statutory_id_number = forms.CharField(
        label="Senior / PWD ID number", required=False, max_length=40
    )

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.fields["coverage"].queryset = Coverage.objects.filter(
                patient=patient, is_active=True
            ).select_related("payer")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, widget=FastTextInput)


class CreditNoteForm(forms.Form):
    amount = money_field("Amount", minimum="0.01")
    reason = forms.CharField(max_length=200, widget=FastTextInput)


class PaymentForm(forms.Form):
    """The hidden ``idempotency_key`` is minted when the form is shown: submitting the same
    form twice (double click, retry after a timeout) records one payment."""

    amount = money_field("Amount received", minimum="0.01")
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(
        label="Reference no. (card, GCash, Maya, bank)", required=False, max_length=60
    )
    invoices = forms.MultipleChoiceField(
        label="Apply to, in the order you tick them (none ticked = oldest first)",
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "pay-order"}),
    )
    # The order the clerk ticked the invoices in (billing.js keeps it; checkboxes alone are
    # always submitted in page order, i.e. by date).
    invoice_order = forms.CharField(widget=forms.HiddenInput, required=False, max_length=2000)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, open_invoices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoices"].choices = [
            (str(i.pk), f"{i.number} · {i.visit_day:%d %b %Y} · balance ₱{i.balance:,.2f}")
            for i in open_invoices
        ]
        if not self.is_bound:
            self.initial["idempotency_key"] = uuid.uuid4().hex
            self.initial["invoice_order"] = ",".join(self.initial.get("invoices") or [])

    def chosen_invoice_ids(self) -> list[int]:
        """The ticked invoices in the order the clerk picked them: ``invoice_order`` first
        (only ids that are ticked), then any ticked ones it doesn't name, in page order."""
        chosen = [int(i) for i in self.cleaned_data["invoices"]]
        picked = [
            int(x)
            for x in self.cleaned_data.get("invoice_order", "").split(",")
            if x.strip().isdigit()
        ]
        ordered = list(dict.fromkeys(i for i in picked if i in chosen))
        return ordered + [i for i in chosen if i not in ordered]


class RefundForm(forms.Form):
    amount = money_field("Refund amount", minimum="0.01")
    reason = forms.CharField(max_length=200)


class OpenDayForm(forms.Form):
    opening_float = money_field("Opening float (cash in the drawer)")


class CloseDayForm(forms.Form):
    note = forms.CharField(label="Note", required=False, max_length=200, widget=FastTextInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = {
            f"counted_{m}": money_field(f"Counted {label}") for m, label in PaymentMethod.choices
        }
        self.fields = {**fields, **self.fields}

    def counted(self) -> dict[str, Decimal]:
        return {m: self.cleaned_data[f"counted_{m}"] for m in PaymentMethod.values}


class CoverageForm(forms.ModelForm):
    groups = forms.MultipleChoiceField(
        label="Service groups (none = all)",
        required=False,
        choices=ServiceGroup.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Coverage
        fields = [
            "payer",
            "member_id",
            "valid_from",
            "valid_until",
            "percent",
            "fixed_amount",
            "groups",
            "annual_cap",
            "loa_number",
            "loa_issued_on",
        ]
        widgets = {"valid_from": DATE, "valid_until": DATE, "loa_issued_on": DATE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(is_active=True)


class ClaimActionForm(forms.Form):
    to_status = forms.ChoiceField(choices=ClaimStatus.choices)
    denial_code = forms.ChoiceField(required=False, choices=[("", "—")] + list(DenialCode.choices))
    note = forms.CharField(required=False, max_length=200)
    loa_number = forms.CharField(label="LOA number", required=False, max_length=60)


class ClaimFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("action", "Needs action")] + list(ClaimStatus.choices),
    )
    payer = forms.ModelChoiceField(
        queryset=Payer.objects.all(), required=False, empty_label="Any payer"
    )


class RemittanceForm(forms.Form):
    payer = forms.ModelChoiceField(queryset=Payer.objects.filter(is_active=True))
    reference = forms.CharField(label="Remittance reference", max_length=60)
    received_on = DateField(widget=DATE, initial=timezone.localdate)
    amount = money_field("Amount received")


class PeriodForm(forms.Form):
    date_from = DateField(label="From", required=False, widget=DATE)
    date_to = DateField(label="To", required=False, widget=DATE)

    def period(self) -> tuple[date, date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or (date_to - timedelta(days=30))
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        return date_from, date_to


class ClaimExportForm(PeriodForm):
    payer = forms.ModelChoiceField(queryset=Payer.objects.all())


class PriceForm(forms.Form):
    amount = money_field("Price")
    covered_per_term = forms.IntegerField(label="Covered per term", min_value=0, max_value=50)


class PriceListCopyForm(forms.Form):
    name = forms.CharField(max_length=120)
    effective_from = DateField(label="In force from", widget=DATE)


class PayerForm(forms.ModelForm):
    class Meta:
        model = Payer
        fields = ["code", "name", "kind", "requires_loa", "loa_validity_days", "is_active"]


# --- PhilHealth Konsulta -------------------------------------------------------------------


def _this_year() -> int:
    return timezone.localdate().year


class KonsultaYearForm(forms.Form):
    year = forms.IntegerField(min_value=2020, max_value=2100, initial=_this_year)

    def year_or_current(self) -> int:
        return self.cleaned_data["year"] if self.is_valid() else _this_year()


class KonsultaRegisterForm(forms.Form):
    id_number = forms.CharField(label="Patient ID number", max_length=40)
    pin = forms.CharField(
        label="PhilHealth PIN", max_length=16, help_text="12 digits: 12-123456789-1"
    )
    year = forms.IntegerField(
        label="Validity year", min_value=2020, max_value=2100, initial=_this_year
    )
    registered_on = DateField(
        label="Registration / assignment date", widget=DATE, initial=timezone.localdate
    )

    def clean_id_number(self):
        value = self.cleaned_data["id_number"].strip()
        patient = Patient.objects.filter(id_number__iexact=value).first()
        if patient is None:
            raise forms.ValidationError("No patient has this ID number.")
        self.patient = patient
        return value


class KonsultaCapitationForm(forms.Form):
    year = forms.IntegerField(label="For year", min_value=2020, max_value=2100, initial=_this_year)
    reference = forms.CharField(label="PhilHealth reference", max_length=60)
    received_on = DateField(widget=DATE, initial=timezone.localdate)
    amount = money_field("Amount received", minimum="0.01")
    members = forms.IntegerField(
        label="Members (as stated)", required=False, min_value=0, max_value=10_000_000
    )


# --- Claim corrections ---------------------------------------------------------------------


class ClaimLineCorrectForm(forms.Form):
    amount = money_field("Amount claimed", minimum="0.01")
    icd10 = forms.CharField(label="ICD-10 code", required=False, max_length=8)
    service = forms.ModelChoiceField(
        queryset=Service.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label="(as invoiced)",
    )
    reason = forms.CharField(label="Reason for the correction", max_length=200)

    def clean_icd10(self):
        return self.cleaned_data["icd10"].strip().upper()

    def clean_reason(self):
        value = self.cleaned_data["reason"].strip()
        if not value:
            raise forms.ValidationError("Say why the line is corrected.")
        return value
