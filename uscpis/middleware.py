"""Request plumbing shared by every app."""

from __future__ import annotations

import os
import re

from uscpis.http import client_ip
from uscpis.request_context import RequestOrigin, current_origin, phi_accessed

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_request_id() -> str:
    """``uuid.uuid4().hex``, without building a ``UUID``: 128 random bits with the version
    (4) and variant (RFC 4122) bits set as ``uuid.UUID(bytes=..., version=4)`` sets them."""
    value = int.from_bytes(os.urandom(16), "big")
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # variant
    value = (value & ~(0xF000 << 64)) | (4 << 76)  # version
    return f"{value:032x}"


class RequestIdMiddleware:
    """Give every request an id (kept from a proxy's ``X-Request-ID`` when it is sane).

    The id is stored on ``request.request_id``, written into audit events and echoed in the
    response so a user's report can be matched with the logs. For the length of the request
    the address, id and path are also the current ``RequestOrigin``, so services write audit
    events with them without taking ``request``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # META, not request.headers: building the headers mapping costs more than the read.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        origin = RequestOrigin(
            ip=(client_ip(request) or "")[:45],
            request_id=request.request_id[:64],
            path=request.get_full_path()[:512],
        )
        token = current_origin.set(origin)  # read by accounts.audit.audit_record
        seen = phi_accessed.set(set())  # read by accounts.audit.audit_phi_access
        try:
            response = self.get_response(request)
        finally:
            phi_accessed.reset(seen)
            current_origin.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class NoStoreWhenSignedInMiddleware:
    """``Cache-Control: no-store, private`` on every response to a signed-in user.

    Charts, visits, exports, documents, calendar files: nothing a signed-in user receives may
    stay in a shared computer's browser cache or a proxy after they sign out. Placed before
    the session and authentication middleware so it sees their result on the way out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Cache-Control"] = "no-store, private"
            response["Pragma"] = "no-cache"
        return response
