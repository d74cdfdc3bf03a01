"""Inventory forms: they bind and validate input shape; the services enforce the rules."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.text import slugify

from inventory.models import (
    ADJUST_REASONS,
    DISPOSE_REASONS,
    STOCKTAKE_REASONS,
    Category,
    Equipment,
    Item,
    ItemKind,
    Location,
    MaintenanceKind,
    MaintenanceResult,
    MaintenanceSchedule,
    ReasonCode,
    Vendor,
)
from inventory.services.purchasing import Receipt
from patients.models import Patient, Prescription, Visit
from uscpis.forms import DateField

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
QTY_ATTRS = {"inputmode": "decimal", "step": "any", "min": "0"}


def _reason_choices(codes) -> list[tuple[str, str]]:
    return [("", "Choose a reason")] + [(c.value, c.label) for c in codes]


def _active_locations_or(field, current_id: int | None) -> None:
    """Offer active locations only, plus the one already chosen (so editing a record kept at
    a retired location still validates)."""
    field.queryset = Location.objects.filter(Q(is_active=True) | Q(pk=current_id))


class ItemForm(forms.ModelForm):
    class Meta:
        model = Item
        fields = [
            "sku",
            "name",
            "kind",
            "generic_name",
            "strength",
            "form",
            "category",
            "unit",
            "allows_fractions",
            "reorder_point",
            "reorder_quantity",
            "preferred_vendor",
            "default_location",
            "is_active",
        ]
        widgets = {
            "reorder_point": forms.NumberInput(attrs=QTY_ATTRS),
            "reorder_quantity": forms.NumberInput(attrs=QTY_ATTRS),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _active_locations_or(self.fields["default_location"], self.instance.default_location_id)


class ReceiveForm(forms.Form):
    location = forms.ModelChoiceField(queryset=Location.objects.filter(is_active=True))
    batch_number = forms.CharField(label="Batch / lot number", max_length=60)
    expiry_date = DateField(required=False, widget=DATE)
    quantity = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    unit_cost = forms.DecimalField(
        label="Unit cost (₱)", min_value=0, max_digits=12, decimal_places=2
    )
    reason_code = forms.ChoiceField(
        label="Source",
        choices=[
            (ReasonCode.PURCHASE, "Purchase (no order on file)"),
            (ReasonCode.DONATION, ReasonCode.DONATION.label),
            (ReasonCode.OPENING, ReasonCode.OPENING.label),
        ],
    )
    note = forms.CharField(required=False, max_length=300)


class DispenseForm(forms.Form):
    RECIPIENTS = [("patient", "A patient"), ("ward", "Ward / room use")]

    item = forms.ModelChoiceField(
        queryset=Item.objects.filter(is_active=True).exclude(kind=ItemKind.EQUIPMENT)
    )
    quantity = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    recipient = forms.ChoiceField(choices=RECIPIENTS, initial="patient", widget=forms.RadioSelect)
    patient_id_number = forms.CharField(label="Patient ID number", required=False, max_length=32)
    visit = forms.IntegerField(
        label="Visit number",
        required=False,
        min_value=1,
        help_text="Optional: links the dispensing to the visit.",
    )
    prescription = forms.IntegerField(
        label="Prescription number", required=False, min_value=1, widget=forms.HiddenInput
    )
    destination = forms.CharField(label="Ward / room", required=False, max_length=120)
    location = forms.ModelChoiceField(
        label="From location",
        required=False,
        queryset=Location.objects.filter(is_active=True),
        empty_label="Any location (first expiry first)",
    )
    course_days = forms.IntegerField(
        label="Course length (days)", required=False, min_value=0, max_value=365
    )
    note = forms.CharField(required=False, max_length=300)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["item"].queryset = self.fields["item"].queryset.only(
            "id", "name", "strength", "form"
        )

    def clean(self):
        data = super().clean()

        data["patient"] = data["visit_obj"] = data["prescription_obj"] = None
        if data.get("recipient") == "ward":
            if not data.get("destination"):
                self.add_error("destination", "Say which ward or room the stock is for.")
            return data
        number = (data.get("patient_id_number") or "").strip()
        visible = Patient.objects.visible_to(self.user)
        if data.get("prescription"):
            rx = (
                Prescription.objects.select_related("visit__patient")
                .filter(pk=data["prescription"], visit__patient__in=visible)
                .first()
            )
            if rx is None:
                self.add_error("prescription", "No such prescription.")
                return data
            data["prescription_obj"], data["visit"] = rx, rx.visit_id
        if data.get("visit"):
            visit = (
                Visit.objects.select_related("patient")
                .filter(pk=data["visit"], patient__in=visible)
                .first()
            )
            if visit is None:
                self.add_error("visit", "No such visit.")
                return data
            data["visit_obj"] = visit
            number = number or visit.patient.id_number
        if not number:
            self.add_error("patient_id_number", "Enter the patient's ID number.")
            return data
        patient = visible.filter(id_number__iexact=number).first()
        if patient is None:
            self.add_error("patient_id_number", "No patient with that ID number.")
        elif data["visit_obj"] is not None and data["visit_obj"].patient_id != patient.pk:
            self.add_error("visit", "That visit belongs to another patient.")
        data["patient"] = patient
        return data


class AdjustForm(forms.Form):
    quantity_change = forms.CharField(
        label="Change (+ to add, − to remove)",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    reason_code = forms.ChoiceField(label="Reason", choices=_reason_choices(ADJUST_REASONS))
    note = forms.CharField(required=False, max_length=300)


class TransferForm(forms.Form):
    to_location = forms.ModelChoiceField(
        label="To", queryset=Location.objects.filter(is_active=True)
    )
    quantity = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}))


class DisposeForm(forms.Form):
    reason_code = forms.ChoiceField(label="Reason", choices=_reason_choices(DISPOSE_REASONS))
    quantity = forms.CharField(
        required=False,
        help_text="Leave blank to dispose of the whole lot.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    note = forms.CharField(required=False, max_length=300)


class OrderCreateForm(forms.Form):
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.filter(is_active=True))


class OrderLineForm(forms.Form):
    item = forms.ModelChoiceField(
        queryset=Item.objects.filter(is_active=True).only("id", "name", "strength", "form")
    )
    quantity = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    unit_cost = forms.DecimalField(
        label="Unit cost (₱)", required=False, min_value=0, max_digits=12, decimal_places=2
    )


class OrderReceiveForm(forms.Form):
    """One row of fields per outstanding line: quantity, batch, expiry and cost."""

    location = forms.ModelChoiceField(
        label="Receive into", queryset=Location.objects.filter(is_active=True)
    )
    confirm_over = forms.BooleanField(
        label="Confirm over-receipt (more than ordered)", required=False
    )

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"qty_{line.pk}"] = forms.CharField(
                label="Quantity",
                required=False,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}),
            )
            self.fields[f"batch_{line.pk}"] = forms.CharField(
                label="Batch", required=False, max_length=60
            )
            self.fields[f"expiry_{line.pk}"] = DateField(
                label="Expiry", required=False, widget=DATE
            )
            self.fields[f"cost_{line.pk}"] = forms.DecimalField(
                label="Unit cost",
                required=False,
                min_value=0,
                max_digits=12,
                decimal_places=2,
                initial=line.unit_cost,
            )

    def rows(self):
        for line in self.lines:
            yield (
                line,
                self[f"qty_{line.pk}"],
                self[f"batch_{line.pk}"],
                self[f"expiry_{line.pk}"],
                self[f"cost_{line.pk}"],
            )

    def receipts(self):

        out = []
        for line in self.lines:
            qty = (self.cleaned_data.get(f"qty_{line.pk}") or "").strip()
            if not qty:
                continue
            batch = self.cleaned_data.get(f"batch_{line.pk}") or ""
            if not batch.strip():
                raise ValidationError(f"{line.item.display_name}: enter the batch number.")
            out.append(
                Receipt(
                    line_id=line.pk,
                    quantity=qty,
                    batch_number=batch,
                    expiry_date=self.cleaned_data.get(f"expiry_{line.pk}"),
                    unit_cost=self.cleaned_data.get(f"cost_{line.pk}"),
                    location=self.cleaned_data["location"],
                )
            )
        return out


class VendorForm(forms.ModelForm):
    class Meta:
        model = Vendor
        fields = [
            "name",
            "contact_name",
            "email",
            "phone",
            "address",
            "lead_time_days",
            "notes",
            "is_active",
        ]
        widgets = {
            "address": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class _UniqueNameForm(forms.ModelForm):
    """Names are unique ignoring case (a database constraint); say so on the field. The
    service turns a lost race into the same error."""

    duplicate_message = "That name is already taken."

    def clean_name(self):
        name = self.cleaned_data["name"]
        taken = type(self.instance).objects.filter(name__iexact=name)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(self.duplicate_message)
        return name


class LocationForm(_UniqueNameForm):
    duplicate_message = "A location with this name already exists."

    class Meta:
        model = Location
        fields = ["name", "code", "description", "is_active"]
        labels = {"is_active": "In use"}
        help_texts = {
            "code": "Short identifier, e.g. pharmacy or er-cart. Blank: made from the name.",
            "is_active": "Untick to retire the location: it is then offered nowhere. "
            "Only possible once it holds no stock.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False

    def clean_code(self):
        return (self.cleaned_data.get("code") or "").lower()

    def clean(self):
        data = super().clean()
        if not data.get("code") and data.get("name"):
            data["code"] = slugify(data["name"])[:30].strip("-")
            if not data["code"]:
                self.add_error("code", "Enter a code (letters, numbers, hyphens).")
        return data


class CategoryForm(_UniqueNameForm):
    duplicate_message = "A category with this name already exists."

    class Meta:
        model = Category
        fields = ["name"]


class EquipmentForm(forms.ModelForm):
    class Meta:
        model = Equipment
        fields = [
            "name",
            "asset_tag",
            "serial_number",
            "model",
            "manufacturer",
            "location",
            "purchase_date",
            "warranty_end",
            "status",
            "vendor",
            "notes",
        ]
        widgets = {
            "purchase_date": DATE,
            "warranty_end": DATE,
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _active_locations_or(self.fields["location"], self.instance.location_id)


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = MaintenanceSchedule
        fields = ["kind", "interval_value", "interval_unit", "last_done_on", "next_due_on"]
        labels = {"interval_value": "Every", "interval_unit": "Unit"}
        widgets = {"last_done_on": DATE, "next_due_on": DATE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["next_due_on"].required = False
        self.fields["next_due_on"].help_text = "Blank: worked out from the last service (or today)."


class MaintenanceLogForm(forms.Form):
    kind = forms.ChoiceField(choices=MaintenanceKind.choices)
    performed_on = DateField(label="Date", widget=DATE)
    result = forms.ChoiceField(choices=MaintenanceResult.choices)
    technician = forms.CharField(required=False, max_length=120)
    work_done = forms.CharField(label="What was done", widget=forms.Textarea(attrs={"rows": 3}))


class StocktakeStartForm(forms.Form):
    location = forms.ModelChoiceField(queryset=Location.objects.filter(is_active=True))


STOCKTAKE_REASON_CHOICES = [("", "—")] + [(c.value, c.label) for c in STOCKTAKE_REASONS]


class StocktakeCountForm(forms.Form):
    """One line of a count sheet: the quantity found on the shelf (blank: not counted yet) and
    the reason for a difference. The quantity is checked against the item's unit by
    ``stocktake_record_counts``."""

    line = forms.IntegerField(widget=forms.HiddenInput)
    counted = forms.CharField(required=False, max_length=20, strip=True)
    reason = forms.ChoiceField(choices=STOCKTAKE_REASON_CHOICES, required=False)


StocktakeCountFormSet = forms.formset_factory(StocktakeCountForm, extra=0, max_num=5000)


def stocktake_count_formset(lines, data=None):
    """The count sheet's formset, one form per line in sheet order, prefilled with what was
    saved; each line gets its form as ``line.count_form`` for the template."""
    initial = [
        {
            "line": line.pk,
            "counted": ""
            if line.counted_quantity is None
            else f"{line.counted_quantity.normalize():f}",
            "reason": line.reason_code,
        }
        for line in lines
    ]
    formset = StocktakeCountFormSet(data, initial=initial, prefix="count")
    for line, form in zip(lines, formset.forms, strict=False):
        line.count_form = form
    return formset


class DispenseCancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason for cancelling",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept on the ledger and the reversed charge, e.g. dispensed to the wrong patient.",
    )
