"""FHIR R4 plumbing (``/fhir/R4/``): resources are declared by the domain apps (each app's
``fhir.py`` lists ``RESOURCES``); this module turns them into read and search endpoints
returning ``searchset`` Bundles with paging links, the ``metadata`` CapabilityStatement
(built from the same declarations, so it lists exactly what is supported) and
OperationOutcome errors. Unsupported search parameters are a 400, never silently ignored.
Same tokens, role matrix and audit as the REST API; content type ``application/fhir+json``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import Http404
from django.urls import path, re_path
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts.audit import audit_phi_served
from accounts.models import AuditAction
from accounts.roles import PUBLIC
from uscpis.compiled import plain_instances

FHIR_VERSION = "4.0.1"
DEFAULT_COUNT = 20
MAX_COUNT = 100
# Search result parameters every resource accepts (besides its own).
COMMON_PARAMS = {"_id", "_count", "_format", "_after"}


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir+json"


class _BulkJSONMixin:
    """For large bodies made only of JSON types (str, int, float, bool, None, dict, list:
    ``$everything``): the stdlib encoder without DRF's ``default`` hook and without the
    circular-reference bookkeeping (the body is a freshly built tree). Same bytes as
    ``FhirJSONRenderer``; pretty-printing (``indent=``) goes through it unchanged."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        text = json.dumps(
            data,
            ensure_ascii=self.ensure_ascii,
            allow_nan=not self.strict,
            separators=(",", ":") if self.compact else (", ", ": "),
            check_circular=False,
        )
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class FhirBulkJSONRenderer(_BulkJSONMixin, FhirJSONRenderer):
    pass


class BulkJSONRenderer(_BulkJSONMixin, JSONRenderer):
    pass


class FhirJSONParser(JSONParser):
    media_type = "application/fhir+json"


class SearchError(Exception):
    """A search request the server cannot honour (→ 400 OperationOutcome)."""


def base_url() -> str:
    return f"{settings.SITE_URL}/fhir/R4"


def operation_outcome(severity: str, code: str, text: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }


def fhir_exception_handler(exc, context):
    """Errors of the FHIR endpoints as OperationOutcome resources."""
    if isinstance(exc, SearchError):
        return fhir_response(operation_outcome("error", "not-supported", str(exc)), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.messages)
    response = exception_handler(exc, context)
    if response is None:
        logging.getLogger("uscpis.api").exception("Unhandled FHIR error", exc_info=exc)
        return fhir_response(
            operation_outcome("fatal", "exception", "Server error; it has been logged."), status=500
        )
    code = {
        400: "invalid",
        401: "login",
        403: "forbidden",
        404: "not-found",
        405: "not-supported",
        429: "throttled",
    }.get(response.status_code, "processing")
    detail = (
        exc.detail
        if isinstance(getattr(exc, "detail", None), str)
        else str(getattr(exc, "detail", exc))
    )
    headers = {
        k: v
        for k, v in response.headers.items()
        if k in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    return fhir_response(
        operation_outcome("error", code, detail), status=response.status_code, headers=headers
    )


def fhir_response(body: dict, status: int = 200, headers=None) -> Response:
    return Response(body, status=status, content_type="application/fhir+json", headers=headers)


# --- Search parameter parsing ------------------------------------------------------------

_DATE_RE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_date_param(value: str) -> tuple[str, datetime, datetime]:
    """``[prefix]YYYY[-MM[-DD]]`` → (prefix, start, end) in the clinic's time zone: the
    interval the value covers. Only eq, gt, lt, ge and le are supported."""
    m = _DATE_RE.match(value.strip())
    if not m:
        raise SearchError(f"Unsupported date value {value!r}: use [eq|gt|lt|ge|le]YYYY[-MM[-DD]].")
    prefix = m.group(1) or "eq"
    if prefix not in ("eq", "gt", "lt", "ge", "le"):
        raise SearchError(f"Date prefix {prefix!r} is not supported (eq, gt, lt, ge, le are).")
    year, month, day = int(m.group(2)), m.group(3), m.group(4)
    try:
        if day:
            start_d = date(year, int(month), int(day))
            end_d = start_d + timedelta(days=1)
        elif month:
            start_d = date(year, int(month), 1)
            end_d = date(year + (int(month) == 12), int(month) % 12 + 1, 1)
        else:
            start_d, end_d = date(year, 1, 1), date(year + 1, 1, 1)
    except ValueError:
        raise SearchError(f"{value!r} is not a valid date.") from None
    tz = timezone.get_current_timezone()
    return prefix, datetime.combine(start_d, time(), tz), datetime.combine(end_d, time(), tz)


def date_q(field_name: str, value: str, *, is_date: bool = False):
    """A Q object for a FHIR date search on ``field_name`` (a DateTimeField, or a DateField
    with ``is_date``)."""

    prefix, start, end = parse_date_param(value)
    if is_date:
        start, end = start.date(), end.date()
    return {
        "eq": Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end}),
        "gt": Q(**{f"{field_name}__gte": end}),
        "ge": Q(**{f"{field_name}__gte": start}),
        "lt": Q(**{f"{field_name}__lt": start}),
        "le": Q(**{f"{field_name}__lt": end}),
    }[prefix]


def reference_id(value: str, resource_type: str) -> str:
    """``Patient/12`` or ``12`` → ``"12"``."""
    value = value.strip()
    if "/" in value:
        kind, _, value = value.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise SearchError(f"Expected a {resource_type} reference, got {kind!r}.")
    return value


def int_id(value: str, prefix: str = "") -> int:
    """``"12"`` (or ``"enc-12"`` with prefix ``"enc-"``) → 12; anything else is not found."""
    raw = value[len(prefix) :] if prefix and value.startswith(prefix) else ("" if prefix else value)
    if not raw.isdigit() or len(raw) > 18:
        raise Http404("No such resource")
    return int(raw)


# --- Resource declarations -------------------------------------------------------------


@dataclass
class SearchParam:
    name: str
    type: str  # FHIR search param type: token, string, date, reference
    documentation: str
    apply: Callable  # (queryset, value, request) -> queryset


@dataclass
class FhirResource:
    """One FHIR resource type served from a queryset of rows.

    ``queryset(user)`` returns the rows the user may see (the domain's own visibility
    rule); ``read(user, id)`` finds one row (404 when not visible); ``to_fhir(row)`` returns
    the resources the row makes (one, or several: one vital-signs row is several
    Observations); ``patient_id(row)`` names whose data it is, for the audit trail.

    The read and search views below fetch through ``read``/``queryset`` and audit every
    row they serve (``_audit``), so a resource cannot be served unaudited: one that holds
    patient data must say whose (``patient_id``), one that holds none says so
    (``patient_data=False``: Practitioner, Schedule, Slot), or the class refuses it.
    """

    type: str
    permission: str | tuple[str, ...]
    queryset: Callable | None = None
    read: Callable | None = None
    to_fhir: Callable | None = None
    params: list[SearchParam] = field(default_factory=list)
    patient_id: Callable | None = None
    order: str = "pk"
    profile: str = ""
    operations: dict = field(default_factory=dict)  # name → view class (e.g. $everything)
    # Resources that are not rows (free slots are computed) bring their own views.
    search_view: type | None = None
    read_view: type | None = None
    patient_data: bool = True

    def __post_init__(self) -> None:
        if self.patient_data and self.patient_id is None:
            raise ValueError(
                f"FHIR {self.type} serves patient data: give patient_id (for the audit "
                "trail) or declare patient_data=False"
            )


def _count(request) -> int:
    raw = request.query_params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_COUNT:
        raise SearchError(f"_count must be between 1 and {MAX_COUNT}.")
    return int(raw)


def _audit(request, resource: FhirResource, rows, *, view: str) -> None:
    if resource.patient_id is None or not rows:
        return

    patients = sorted({pid for pid in (resource.patient_id(r) for r in rows) if pid})
    if not patients:
        return
    audit_phi_served(
        request.user,
        AuditAction.READ,
        obj=rows[0] if len(rows) == 1 else None,
        object_type="" if len(rows) == 1 else f"fhir.{resource.type.lower()}",
        patient_id=patients[0] if len(patients) == 1 else None,
        detail={"via": "fhir", "view": view, "resource": resource.type, "patients": patients[:100]},
    )


class FhirView(APIView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    parser_classes = [FhirJSONParser, JSONParser]
    resource: FhirResource

    def get_exception_handler(self):
        return fhir_exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(response, "accepted_media_type", "") == "application/json" or response.get(
            "Content-Type", ""
        ).startswith("application/json"):
            response.content_type = "application/fhir+json"
        return response


class FhirSearchView(FhirView):
    @extend_schema(exclude=True)
    def get(self, request):
        res = self.resource
        known = COMMON_PARAMS | {p.name for p in res.params}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise SearchError(
                f"Unsupported search parameter(s) for {res.type}: {', '.join(unknown)}. "
                f"Supported: {', '.join(sorted(known - {'_after'}))}."
            )
        if request.query_params.get("_format", "json") not in (
            "json",
            "application/fhir+json",
            "application/json",
        ):
            raise SearchError("Only JSON is supported (_format=json).")
        qs = res.queryset(request.user)
        if "_id" in request.query_params:
            ids = [v for v in request.query_params["_id"].split(",") if v]
            found = []
            for v in ids[:MAX_COUNT]:
                try:
                    found.append(res.read(request.user, v).pk)
                except Http404:
                    continue
            qs = qs.filter(pk__in=found)
        for param in res.params:
            for value in request.query_params.getlist(param.name):
                if value == "":
                    raise SearchError(f"Empty value for {param.name}.")
                qs = param.apply(qs, value, request)
        count = _count(request)
        after = request.query_params.get("_after")
        if after is not None:
            if not after.isdigit():
                raise SearchError("Invalid paging cursor.")
            qs = qs.filter(pk__gt=int(after))
        rows = list(plain_instances(qs.order_by("pk")[: count + 1]))
        more = len(rows) > count
        rows = rows[:count]
        _audit(request, res, rows, view="search")
        entries = []
        for row in rows:
            for resource in res.to_fhir(row):
                entries.append(
                    {
                        "fullUrl": f"{base_url()}/{resource['resourceType']}/{resource['id']}",
                        "resource": resource,
                        "search": {"mode": "match"},
                    }
                )
        params = {k: v for k, v in request.query_params.items() if k != "_after"}
        links = [
            {
                "relation": "self",
                "url": f"{base_url()}/{res.type}?{urlencode(request.query_params, doseq=True)}".rstrip(
                    "?"
                ),
            }
        ]
        if more:
            links.append(
                {
                    "relation": "next",
                    "url": f"{base_url()}/{res.type}?{urlencode({**params, '_after': rows[-1].pk})}",
                }
            )
        if after is not None:
            links.append(
                {
                    "relation": "first",
                    "url": f"{base_url()}/{res.type}?{urlencode(params)}".rstrip("?"),
                }
            )
        return fhir_response(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "timestamp": timezone.localtime().isoformat(),
                "link": links,
                "entry": entries,
            }
        )


class FhirReadView(FhirView):
    @extend_schema(exclude=True)
    def get(self, request, resource_id: str):
        res = self.resource
        row = res.read(request.user, resource_id)
        _audit(request, res, [row], view="read")
        for resource in res.to_fhir(row):
            if resource["id"] == resource_id:
                return fhir_response(resource)
        raise Http404("No such resource")


def _view(base, resource: FhirResource):
    name = f"{resource.type}{base.__name__}"
    return type(name, (base,), {"resource": resource, "required_permission": resource.permission})


def capability_statement(resources: list[FhirResource]) -> dict:
    rest_resources = []
    for r in resources:
        entry = {
            "type": r.type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": "_id", "type": "token", "documentation": "Logical id"},
                *[
                    {"name": p.name, "type": p.type, "documentation": p.documentation}
                    for p in r.params
                ],
            ],
        }
        if r.profile:
            entry["profile"] = r.profile
        if r.operations:
            entry["operation"] = [
                {
                    "name": name.lstrip("$"),
                    "definition": f"http://hl7.org/fhir/OperationDefinition/{r.type}-{name.lstrip('$')}",
                }
                for name in r.operations
            ]
        rest_resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "uscpis",
        "url": f"{base_url()}/metadata",
        "name": "USCPISFHIRServer",
        "title": f"{settings.CLINIC_NAME} FHIR R4 server",
        "status": "active",
        "experimental": False,
        "date": timezone.localdate().isoformat(),
        "publisher": settings.CLINIC_NAME,
        "kind": "instance",
        "software": {"name": "USC-PIS", "version": settings.APP_VERSION},
        "implementation": {
            "description": "USC-PIS FHIR R4 interface (read and search)",
            "url": base_url(),
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read and search only. Page size: _count (1-100, default 20); follow the Bundle's next link.",
                "security": {
                    "description": "Personal API token in the Authorization header: 'Token <secret>' (created on the API tokens page).",
                },
                "resource": rest_resources,
                "searchParam": [
                    {"name": "_count", "type": "number", "documentation": "Page size (1-100)"},
                ],
            }
        ],
    }


def check_params(request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise SearchError(
            f"Unsupported search parameter(s): {', '.join(unknown)}. Supported: {', '.join(sorted(allowed))}."
        )


def searchset(
    request, resource_type: str, resources: list[dict], next_url: str | None = None
) -> Response:
    links = [
        {
            "relation": "self",
            "url": f"{base_url()}/{resource_type}?{urlencode(request.query_params, doseq=True)}".rstrip(
                "?"
            ),
        }
    ]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timezone.localtime().isoformat(),
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base_url()}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


def fhir_urlpatterns(resources: list[FhirResource]) -> list:
    class Metadata(FhirView):
        required_permission = PUBLIC
        authentication_classes: list = []

        @extend_schema(exclude=True)
        def get(self, request):
            return fhir_response(capability_statement(resources))

    patterns = [path("metadata", Metadata.as_view(), name="metadata")]
    for r in resources:
        patterns.append(
            path(
                r.type, _view(r.search_view or FhirSearchView, r).as_view(), name=f"{r.type}-search"
            )
        )
        for op_name, view in r.operations.items():
            op_view = type(
                f"{r.type}{view.__name__}",
                (view,),
                {"resource": r, "required_permission": view.required_permission},
            )
            patterns.append(
                re_path(
                    rf"^{r.type}/(?P<resource_id>[A-Za-z0-9\-\.]{{1,64}})/\{op_name}$",
                    op_view.as_view(),
                    name=f"{r.type}-{op_name.lstrip('$')}",
                )
            )
        patterns.append(
            re_path(
                rf"^{r.type}/(?P<resource_id>[A-Za-z0-9\-\.]{{1,64}})$",
                _view(r.read_view or FhirReadView, r).as_view(),
                name=f"{r.type}-read",
            )
        )
    return patterns
