"""The Django admin, kept as a read-only inspection tool.

Every change to users, roles, passwords and two-factor devices goes through the app's own
pages and services, which audit it; the Django admin would bypass that trail. So here:

* it is **read-only**: any request other than GET/HEAD (save, delete, bulk actions) is
  refused with 403 and a ``denied`` audit event, logout excepted;
* it needs a **verified two-factor session**: ``has_permission`` requires ``is_verified()``,
  and every account that can reach it (staff or superuser) must use two-factor
  authentication (``User.requires_two_factor``);
* in production it is **not mounted** unless ``DJANGO_ADMIN_ENABLED=true``.
"""

from __future__ import annotations

from functools import update_wrapper

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ClinicAdminSite(AdminSite):
    site_header = "USC-PIS administration (read-only)"
    site_title = "USC-PIS admin"

    def has_permission(self, request) -> bool:
        user = request.user
        verified = getattr(user, "is_verified", lambda: False)()
        return bool(user.is_active and user.is_staff and verified)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def read_only(request, *args, **kwargs):
            if request.method not in SAFE_METHODS and not request.path.endswith("/logout/"):
                # app registry: the admin site loads before the models (accounts.permissions needs them)
                from accounts.permissions import deny

                deny(
                    request,
                    "django_admin.write",
                    reason="The Django admin is read-only: make changes on the clinic's own pages.",
                )
            return inner(request, *args, **kwargs)

        return update_wrapper(read_only, inner)


class ClinicAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.ClinicAdminSite"
