"""OpenAPI additions: the problem+json error responses every operation may return, the
token security scheme and the ``Idempotency-Key`` header on idempotent writes."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "detail", "code"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

ERROR_STATUSES = {
    "400": "Invalid request (per-field errors in `errors`)",
    "401": "No or invalid token",
    "403": "The role or the token's scope does not allow this",
    "404": "Not found, or not yours",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "409": "Conflict (slot just taken, possible duplicate)",
    "415": "Unsupported media type",
    "422": "Idempotency-Key reused for a different request",
    "429": "Too many requests (see Retry-After)",
    "500": "Server error",
}


class KnoxTokenScheme(OpenApiAuthenticationExtension):
    target_class = "uscpis.api.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <secret>`: a personal API token from the API tokens page.",
        }


def add_problem_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for _path, methods in result.get("paths", {}).items():
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, text in ERROR_STATUSES.items():
                responses.setdefault(
                    code,
                    {"description": text, "content": {"application/problem+json": {"schema": ref}}},
                )
    return result


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "uscpis.api.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
