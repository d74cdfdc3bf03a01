"""Every API error in one documented shape: RFC 9457 ``application/problem+json``.

    {"type": "urn:uscpis:problem:validation", "title": "Invalid request", "status": 400,
     "detail": "...", "instance": "/api/v1/...", "errors": [{"field": "birth_date",
     "detail": "Birth date cannot be in the future.", "code": "invalid"}]}

Services raise Django ``ValidationError`` (400; 409 when the slot was just taken or the
patient may be a duplicate), ``Http404`` and ``PermissionDenied``; they are mapped here, so
the API and the HTML views share one set of rules and messages. Unexpected errors are
logged and answered as a 500 problem (never an HTML page or a traceback).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger("uscpis.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Invalid request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Server error",
}

CONFLICT_CODES = {"possible_duplicate", "slot_taken"}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _flatten(detail, prefix: str = "") -> list[dict]:
    """DRF error detail (dict/list/ErrorDetail, nested) → [{"field", "detail", "code"}]."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                out += _flatten(value, f"{prefix}[{i}]")
            else:
                out += _flatten(value, prefix)
    else:
        out.append(
            {"field": prefix, "detail": str(detail), "code": getattr(detail, "code", "invalid")}
        )
    return out


def from_django_validation_error(exc: DjangoValidationError) -> exceptions.APIException:
    if hasattr(exc, "error_dict"):
        detail = {
            ("non_field_errors" if k == "__all__" else k): [str(m) for e in v for m in e.messages]
            for k, v in exc.error_dict.items()
        }
    else:
        detail = {"non_field_errors": list(exc.messages)}
    codes = {getattr(exc, "code", None)} | {
        getattr(e, "code", None) for e in getattr(exc, "error_list", [])
    }
    if exc.__class__.__name__ == "SlotTaken":
        codes.add("slot_taken")
    if codes & CONFLICT_CODES:
        return Conflict(
            detail=" ".join(m for msgs in detail.values() for m in msgs),
            code=(codes & CONFLICT_CODES).pop(),
        )
    return exceptions.ValidationError(detail)


def problem(
    status_code: int, detail: str, *, code: str = "", request=None, errors=None, headers=None
) -> Response:
    body = {
        "type": f"urn:uscpis:problem:{code or status_code}",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.path
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def problem_exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, DjangoValidationError):
        exc = from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return problem(
            500,
            "The server could not handle this request; it has been logged.",
            code="server_error",
            request=request,
        )
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        general = [e["detail"] for e in errors if not e["field"]]
        detail = " ".join(general) or "Some fields are invalid."
        code = "validation"
    else:
        errors = None
        detail = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "Request failed."
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    headers = {
        k: v
        for k, v in response.headers.items()
        if k in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    return problem(
        response.status_code,
        detail,
        code=str(code),
        request=request,
        errors=errors,
        headers=headers,
    )
