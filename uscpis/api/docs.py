"""The OpenAPI schema, Swagger UI and ReDoc, served from vendored assets (the sidecar).

Under the strict CSP: Swagger UI's start-up script is served as a separate same-origin
script (drf-spectacular's split view) and its page has no inline style; ReDoc starts from
``static/js/redoc-init.js``. ReDoc's renderer injects its own ``<style>`` elements, so its
page alone allows inline styles (never inline script)."""

from __future__ import annotations

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts.roles import PUBLIC


class SchemaView(SpectacularAPIView):
    required_permission = PUBLIC


class SwaggerView(SpectacularSwaggerSplitView):
    required_permission = PUBLIC
    template_name = "api/swagger_ui.html"


@method_decorator(
    csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]}), name="dispatch"
)
class RedocView(SpectacularRedocView):
    required_permission = PUBLIC
    template_name = "api/redoc.html"
