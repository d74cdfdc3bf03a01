"""``/api/v1/``: every domain app's ``api.py`` (or ``api/`` package) registers its
resources on one router; ``/fhir/R4/``: the resources each app's ``fhir.py`` declares; ``/api/schema/``, ``/api/docs/`` and ``/api/redoc/`` document them.
Discovered through ``uscpis.registry`` so this module never imports a domain app."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from uscpis.api import schema  # noqa: F401 (registers the OpenAPI extensions)
from uscpis.api.docs import RedocView, SchemaView, SwaggerView
from uscpis.api.fhir import fhir_urlpatterns
from uscpis.registry import app_modules

router = SimpleRouter()
extra: list = []
for module in app_modules("api"):
    if hasattr(module, "register"):
        module.register(router)
    extra += getattr(module, "urlpatterns", [])
fhir_resources = [resource for module in app_modules("fhir") for resource in module.RESOURCES]

api_v1 = [*extra, *router.urls]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    path("fhir/R4/", include((fhir_urlpatterns(fhir_resources), "fhir"))),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
