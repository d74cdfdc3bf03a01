"""The API's bridge to the role matrix (``accounts/roles.py``).

Every API view declares what it needs, like the HTML views' ``@require_perm``:

* ``required_permissions = {"list": "patients.view_demographics", "create": ...}`` keyed by
  viewset action (or by HTTP method for plain ``APIView``\\ s), or
* ``required_permission = "..."`` for all of them.

A tuple of permissions means any of them (``("patients.view_demographics",
"patients.portal")``: staff see every patient, a patient their own record; which objects
is the selectors' business).

An operation that declares nothing is refused (and ``tests/api/test_permission_matrix.py``
fails), so a new endpoint cannot forget. Read-only tokens may only use safe methods. Refusals
are written to the audit trail like the HTML views' ``deny``.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import PERMISSIONS, PUBLIC, user_has_perm


def declared_permission(view, method: str, action: str | None = None) -> str | None:
    """The permission ``view`` (class or instance) declares for ``action``/``method``."""
    mapping = getattr(view, "required_permissions", None) or {}
    for key in (action, method.upper()):
        if key and key in mapping:
            return mapping[key]
    return getattr(view, "required_permission", None)


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        perm = declared_permission(view, request.method, getattr(view, "action", None))
        if not is_known(perm):
            # Fails closed: an endpoint without a declared permission answers nobody.
            self.message = "This operation declares no permission."
            return False
        if perm == PUBLIC:
            return True
        user = request.user
        if not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        if request.method not in SAFE_METHODS and not _token_can_write(request):
            self.message = "This API token is read-only."
            _audit_denied(request, perm, "read-only token")
            return False
        if not user_has_any_perm(user, perm):
            self.message = f"Your role does not allow this ({' or '.join(as_tuple(perm))})."
            _audit_denied(request, " or ".join(as_tuple(perm)), "")
            return False
        return True


def as_tuple(perm) -> tuple[str, ...]:
    return (perm,) if isinstance(perm, str) else tuple(perm)


def is_known(perm) -> bool:
    """A declared permission: ``PUBLIC``, or one or more (any of) from the role matrix."""
    if perm is None:
        return False
    if perm == PUBLIC:
        return True
    perms = as_tuple(perm)
    return bool(perms) and all(p in PERMISSIONS for p in perms)


def user_has_any_perm(user, perm) -> bool:
    return any(user_has_perm(user, p) for p in as_tuple(perm))


def _token_can_write(request) -> bool:
    token = getattr(request, "auth", None)
    return getattr(token, "can_write", True)  # a session (no token) may write


def _audit_denied(request, perm: str, reason: str) -> None:

    detail = {"permission": perm, "via": "api"}
    if reason:
        detail["reason"] = reason
    audit_record(
        action=AuditAction.DENIED, actor=request.user, request=request, allowed=False, detail=detail
    )
