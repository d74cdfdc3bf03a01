"""The clinic's URLs plus the benchmark's "shell" page (used only by ``uscpis.bench_settings``)."""

from django.urls import include, path
from django.views.decorators.http import require_GET

from accounts.permissions import require_perm
from uscpis.http import render_page


@require_GET
@require_perm("accounts.signed_in")
def shell(request):
    """The layout every signed-in page carries, with an empty content area."""
    return render_page(request, "bench/shell.html", {})


urlpatterns = [
    path("__bench__/shell/", shell, name="bench_shell"),
    path("", include("uscpis.urls")),
]

handler400 = "uscpis.errors.bad_request"
handler403 = "uscpis.errors.permission_denied"
handler404 = "uscpis.errors.page_not_found"
handler500 = "uscpis.errors.server_error"
