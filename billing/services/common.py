"""Helpers shared by the billing services."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from accounts.models import User
from accounts.roles import user_has_perm


def require(actor: User | None, perm: str, message: str = "") -> None:
    """Services refuse actors whose role lacks ``perm`` (system actors pass ``None``)."""
    if actor is not None and not user_has_perm(actor, perm):
        raise PermissionDenied(message or "Your role cannot do this in billing.")
