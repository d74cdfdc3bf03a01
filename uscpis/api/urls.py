"""``/api/v1/``: every domain app's ``api.py`` (or ``api/`` package) registers its
resources on one router; ``/fhir/R4/``: the resources each app's ``fhir.py`` declares;
``/api/schema/``, ``/api/docs/`` and ``/api/redoc/`` document them. Discovered through
``uscpis.registry`` so this module never imports a domain app. Unknown URLs under both
answer 404 in their own error format."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from accounts.roles import PUBLIC
from uscpis.api import schema  # noqa: F401 (registers the OpenAPI extensions)
from uscpis.api.docs import RedocView, SchemaView, SwaggerView
from uscpis.api.fhir import FhirView, fhir_urlpatterns
from uscpis.registry import app_modules

router = SimpleRouter()
extra: list = []
for module in app_modules("api"):
    if hasattr(module, "register"):
        module.register(router)
    extra += getattr(module, "urlpatterns", [])
fhir_resources = [resource for module in app_modules("fhir") for resource in module.RESOURCES]


class ApiNotFound(APIView):
    """Any other URL under /api/v1/ (e.g. an id the path converter refuses): a problem+json
    404 rather than the HTML error page."""

    required_permission = PUBLIC
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        raise NotFound("No such API resource.")

    post = put = patch = delete = get


class FhirNotFound(FhirView):
    required_permission = PUBLIC
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        raise NotFound("No such FHIR resource or operation.")

    post = put = patch = delete = get


api_v1 = [*extra, *router.urls, re_path(r"^.*$", ApiNotFound.as_view(), name="not-found")]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    path(
        "fhir/R4/",
        include(
            (
                [
                    *fhir_urlpatterns(fhir_resources),
                    re_path(r"^.*$", FhirNotFound.as_view(), name="not-found"),
                ],
                "fhir",
            )
        ),
    ),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
