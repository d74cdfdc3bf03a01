"""How views declare what they need.

    @require_http_methods(["GET"])
    @require_perm("patients.view_clinical")
    def chart(request, pk): ...

``require_perm`` sends anonymous users to the login page, answers 403 (and writes a
``denied`` audit event) when the role lacks the permission, and records the permission on
the view so the URL walker test can prove that every view declares one. ``public`` marks
the few views anyone may open (login, health checks, certificate verification, signed
links).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django_htmx.http import HttpResponseClientRedirect

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import PERMISSIONS, PUBLIC, user_has_perm


def require_perm(perm: str):
    if perm not in PERMISSIONS:
        raise KeyError(f"Unknown permission {perm!r}: add it to accounts/roles.py")

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                if getattr(request, "htmx", None):
                    return HttpResponseClientRedirect(
                        redirect_to_login(request.get_full_path()).url
                    )
                return redirect_to_login(request.get_full_path())
            if not user_has_perm(user, perm):
                deny(request, perm)
            return view(request, *args, **kwargs)

        wrapper.required_permission = perm
        return wrapper

    return decorator


def public(view):
    view.required_permission = PUBLIC
    return view


def deny(request, perm: str = "", reason: str = "") -> None:
    """Record the refusal in the audit trail and raise ``PermissionDenied`` (403)."""

    audit_record(
        action=AuditAction.DENIED,
        request=request,
        allowed=False,
        detail={"permission": perm, "reason": reason} if reason else {"permission": perm},
    )
    raise PermissionDenied(reason or f"Your role does not allow this ({perm}).")
