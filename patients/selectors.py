"""Reads of patient records, with the object-level access check."""

from __future__ import annotations

from django.http import Http404

from patients.models import Patient


def get_patient_for_user(user, pk: int) -> Patient:
    """The patient ``pk`` if ``user`` may see it; otherwise 404 ("not found" and "not yours"
    look the same, so existence never leaks)."""
    try:
        return Patient.objects.visible_to(user).get(pk=pk)
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient") from None
