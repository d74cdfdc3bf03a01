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


# (patient id, action) pairs already audited as a read or export in this request, so a view
# that reaches the same patient through two access helpers leaves one event. ``None`` outside
# a request (tasks, commands, tests without the middleware): nothing is de-duplicated.
phi_accessed: ContextVar[set[tuple[int | None, str]] | None] = ContextVar(
    "phi_accessed", default=None
)
