"""``Idempotency-Key`` for writes that book, dispense or take money.

The key is recorded in the same transaction as the write: a concurrent retry waits on the
unique (user, key) index until the first request commits, then returns the stored first
response (``Idempotent-Replayed: true``). A failed first request rolls its key back, so it
can be retried. Reusing a key for a different request is a 422.
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import IdempotencyRecord
from uscpis.api.errors import problem

HEADER = "Idempotency-Key"


def _request_hash(request) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=JSONEncoder, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(handler):
    """Decorate a view method (``create``, ``post`` or an ``@action``)."""

    @wraps(handler)
    def wrapper(self, request, *args, **kwargs):

        key = request.headers.get(HEADER, "")
        if not key:
            return handler(self, request, *args, **kwargs)
        if len(key) > 128 or not key.isprintable():
            return problem(
                400,
                f"{HEADER} must be 1 to 128 printable characters.",
                code="validation",
                request=request,
            )
        digest = _request_hash(request)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method,
                        path=request.path[:512],
                        request_hash=digest,
                    )
            except IntegrityError:
                record = IdempotencyRecord.objects.get(user=request.user, key=key)
                if record.request_hash != digest:
                    return problem(
                        422,
                        f"This {HEADER} was already used for a different request.",
                        code="idempotency_key_reused",
                        request=request,
                    )
                return Response(
                    record.response,
                    status=record.status_code,
                    headers={"Idempotent-Replayed": "true"},
                )
            response = handler(self, request, *args, **kwargs)
            if response.status_code >= 300:
                transaction.set_rollback(True)
                return response
            record.status_code = response.status_code
            record.response = json.loads(json.dumps(response.data, cls=JSONEncoder))
            record.save(update_fields=["status_code", "response"])
        return response

    wrapper.idempotent = True
    return wrapper


def idempotency_parameter():

    return OpenApiParameter(
        HEADER,
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Any unique string (e.g. a UUID). A retry with the same key returns the first result instead of repeating the write.",
    )
