from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path

# Django admin signs in through our login page (lockout, two-factor, audit).
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    # The API first: its five patterns all start with "api/" or "fhir/", so pages pay five
    # failed prefix checks, while an API call no longer tries the ~60 root patterns of
    # accounts and monitoring before reaching its own (9% of an API request's time).
    path("", include("uscpis.api.urls")),
    path("", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("appointments/", include("appointments.urls")),
    path("inventory/", include("inventory.urls")),
    path("billing/", include("billing.urls")),
    path("analytics/", include("analytics.urls")),
    path("", include("monitoring.urls")),
]
if settings.DJANGO_ADMIN_ENABLED:  # read-only, two-factor (accounts/admin_site.py)
    urlpatterns.append(path("django-admin/", admin.site.urls))

handler400 = "uscpis.errors.bad_request"
handler403 = "uscpis.errors.permission_denied"
handler404 = "uscpis.errors.page_not_found"
handler500 = "uscpis.errors.server_error"
