"""django-csp's middleware with the policy header built once instead of on every response.

``csp.middleware.CSPMiddleware`` rebuilds both headers (the policy and the report-only
policy) from the settings for every response: two dictionary walks, copies and joins per
request, for strings that only change with the settings. A response whose view changed
nothing (no ``@csp_update``/``@csp_replace``/``@csp_exempt``, no nonce used) gets the
headers built from the settings once per process; any other response goes through
django-csp's own code unchanged.
"""

from __future__ import annotations

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_RESPONSE_ATTRS = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)
_cache: dict[str, tuple] = {}


def _policies() -> tuple[str, tuple, str, tuple]:
    """(policy, excluded prefixes, report-only policy, its excluded prefixes)."""
    found = _cache.get("policies")
    if found is None:
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
        policy_ro = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or {}
        found = (
            build_policy(),
            tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ()),
            build_policy(report_only=True),
            tuple(policy_ro.get("EXCLUDE_URL_PREFIXES", None) or ()),
        )
        _cache["policies"] = found
    return found


class CSPMiddleware(BaseCSPMiddleware):
    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _RESPONSE_ATTRS
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        csp, prefixes, csp_ro, prefixes_ro = _policies()
        path = request.path_info
        if csp and HEADER not in response and not path.startswith(prefixes):
            response[HEADER] = csp
        if csp_ro and HEADER_REPORT_ONLY not in response and not path.startswith(prefixes_ro):
            response[HEADER_REPORT_ONLY] = csp_ro
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    _cache.clear()
