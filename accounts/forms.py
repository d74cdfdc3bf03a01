from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import AuditAction, User
from accounts.roles import Role


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
    user = forms.CharField(required=False, label="User email", max_length=254)
    patient = forms.IntegerField(required=False, label="Patient id", min_value=1)
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditAction.choices])
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("'From' must be on or before 'To'.")
        return data
