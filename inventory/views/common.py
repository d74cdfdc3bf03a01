"""What the inventory views share: page size and how a service's refusal reaches the form."""

from __future__ import annotations

from django.core.exceptions import ValidationError

PAGE_SIZE = 25


def _form_error(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form (fields it names, else non-field)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _status(form) -> int:
    return 422 if form.errors else 200
