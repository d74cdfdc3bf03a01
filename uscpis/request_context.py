"""Where the current request came from, for the audit trail, without passing ``request``
down to services.

``RequestIdMiddleware`` sets it for the length of each request; Celery tasks and management
commands run outside any request and see ``None`` (their audit events have no IP, request
id or path).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    ip: str
    request_id: str
    path: str


current_origin: ContextVar[RequestOrigin | None] = ContextVar("current_origin", default=None)
