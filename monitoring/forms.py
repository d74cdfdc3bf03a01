from django import forms


class BackupStartForm(forms.Form):
    with_media = forms.BooleanField(required=False, label="Include uploaded files (media)")


class RestoreConfirmForm(forms.Form):
    confirmation = forms.CharField(
        max_length=40,
        label="Type the confirmation phrase",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, phrase: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.phrase = phrase
        self.fields["confirmation"].help_text = f"Type “{phrase}” exactly."

    def clean_confirmation(self):
        value = self.cleaned_data["confirmation"].strip()
        if value != self.phrase:
            raise forms.ValidationError("The phrase does not match; nothing was restored.")
        return value
