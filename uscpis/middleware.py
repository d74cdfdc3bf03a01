"""Request plumbing shared by every app."""

from __future__ import annotations

import re
import uuid

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (kept from a proxy's ``X-Request-ID`` when it is sane).

    The id is stored on ``request.request_id``, written into audit events and echoed in the
    response so a user's report can be matched with the logs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
