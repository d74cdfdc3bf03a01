from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.permissions import public
from monitoring import health


@never_cache
@require_GET
@public
def healthz(request):
    """Liveness: 200 while the process can answer."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
@public
def readyz(request):
    """Readiness: database, cache and broker; 503 if any of them fails."""
    checks = {
        "database": health.check_database(),
        "cache": health.check_cache(),
        "broker": health.check_broker(),
    }
    ok = all(result for result, _ in checks.values())
    body = {
        "status": "ok" if ok else "fail",
        "checks": {name: {"ok": result, "detail": detail} for name, (result, detail) in checks.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)
