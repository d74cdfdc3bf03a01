"""How django-axes keys sign-in failures, and clearing one account's failures.

Emails are matched case-insensitively at sign-in (``UserManager.get_by_natural_key``), so the
lockout must count ``Nurse.Ana@…`` and ``nurse.ana@…`` as the same account; otherwise each
spelling gets its own five guesses (``AXES_USERNAME_CALLABLE``).

Axes' own ``AXES_RESET_ON_SUCCESS`` deletes every failure matching the successful sign-in's
username *or IP address*, so signing in to one's own account wipes the failures just made
against someone else's from the same address. It is off; ``lockout_reset_for`` clears only
the signed-in account's failures instead.
"""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings


def normalise_username(value) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def lockout_username(request, credentials: dict | None = None) -> str | None:
    """The lockout key for a sign-in attempt: the submitted email, trimmed and lower-cased."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        return normalise_username(credentials.get(field))
    data = getattr(request, "data", None) or getattr(request, "POST", None) or {}
    return normalise_username(data.get(field))


def lockout_reset_for(*, user) -> int:
    """Forget the recorded sign-in failures against ``user``'s account (from any address);
    other accounts' failures, including those from the same address, stay. Returns how
    many records were removed."""
    username = normalise_username(user.get_username())
    if username is None:
        return 0
    return AxesProxyHandler.reset_attempts(username=username)
