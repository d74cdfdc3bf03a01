from __future__ import annotations

import unicodedata

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxValueValidator

from accounts.models import AuditAction, TokenScope, User
from accounts.roles import Role
from uscpis.forms import DateField, FastDateInput, FastNumberInput, FastSelect, FastTextInput


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active account.",
    }


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6-digit code from your authenticator app, or a recovery code.",
    )

    def clean_token(self) -> str:
        return self.cleaned_data["token"].strip().replace(" ", "")


class CurrentCodeForm(forms.Form):
    """A fresh code, asked again before two-factor settings change (a signed-in session
    left open is not enough to turn two-factor authentication off)."""

    code = forms.CharField(
        label="Current code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="From your authenticator app (or one of your recovery codes).",
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().replace(" ", "")


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Also emails a set-password link to an invited account that never chose a password
    (its invitation link may have expired); Django skips accounts without a usable password."""

    def get_users(self, email):
        users = User._default_manager.filter(email__iexact=email, is_active=True)
        wanted = unicodedata.normalize("NFKC", email).casefold()
        for user in users:
            if not (user.has_usable_password() or user.last_login is None):
                continue
            if unicodedata.normalize("NFKC", user.email).casefold() == wanted:
                yield user


class UserInviteForm(forms.Form):
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


class UserEditForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "role", "is_active"]


class UserFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *Role.choices])


class PreferencesForm(forms.Form):
    email_notifications = forms.BooleanField(required=False, label="Email me notifications")


class AuditFilterForm(forms.Form):
    # Drawn in Python (uscpis.forms Fast* widgets: Django's markup, no template includes).
    user = forms.CharField(required=False, label="User email", max_length=254, widget=FastTextInput)
    patient = forms.IntegerField(
        required=False, label="Patient id", min_value=1, widget=FastNumberInput
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditAction.choices], widget=FastSelect
    )
    date_from = DateField(
        required=False, label="From", widget=FastDateInput(attrs={"type": "date"})
    )
    date_to = DateField(required=False, label="To", widget=FastDateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("'From' must be on or before 'To'.")
        return data


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What will use it, e.g. “Lab system sync”.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        help_text="Every token expires; at most a year.",
    )

    def __init__(self, *args, **kwargs):

        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].initial = settings.API_TOKEN_DEFAULT_DAYS
        self.fields["expires_in_days"].max_value = settings.API_TOKEN_MAX_DAYS
        self.fields["expires_in_days"].widget.attrs["max"] = settings.API_TOKEN_MAX_DAYS
        self.fields["expires_in_days"].validators.append(
            MaxValueValidator(settings.API_TOKEN_MAX_DAYS)
        )
