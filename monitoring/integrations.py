"""Checks of the outside services the clinic depends on: email (SMTP or Amazon SES) and
Cloudinary. Each check answers ``{"reachable": True/False/None, "detail": ...}`` (None: not
checkable, e.g. not configured or a development backend) and never raises, so one failing
service cannot hide the others. Results are cached for a minute (per configuration), so the
monitor page polling every few seconds does not call the providers' APIs each time.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
TIMEOUT_SECONDS = 5
_DEVELOPMENT_BACKENDS = ("console", "locmem", "filebased", "dummy")


def _error(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:300]


CACHE_KEY = "monitoring:integrations"


def _config_digest() -> str:
    """Changes with the configuration, so a new setting is checked at once (no secret kept:
    a digest of the settings only)."""
    config = "|".join(
        [
            settings.EMAIL_BACKEND,
            getattr(settings, "AWS_SES_REGION_NAME", "") or "",
            getattr(settings, "EMAIL_HOST", "") or "",
            getattr(settings, "CLOUDINARY_URL", "") or "",
        ]
    )
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def check_email() -> dict:
    backend = settings.EMAIL_BACKEND
    result = {"backend": backend, "from": settings.DEFAULT_FROM_EMAIL, "reachable": None}
    try:
        if "django_ses" in backend:
            result.update(reachable=True, detail=_ses_status())
        elif "smtp" in backend.rsplit(".", 1)[0]:
            conn = get_connection(timeout=TIMEOUT_SECONDS)
            conn.open()
            conn.close()
            result.update(reachable=True, detail="SMTP server answered")
        elif any(word in backend for word in _DEVELOPMENT_BACKENDS):
            result.update(detail="Development backend: messages are not delivered")
        else:
            result.update(detail="Not checked (unknown backend)")
    except Exception as exc:
        result.update(reachable=False, detail=_error(exc))
    return result


def _ses_status() -> str:
    """Ask SES for the sending quota, with the backend's own credentials and region."""
    from botocore.config import Config  # optional dependency, only with Amazon SES

    region = getattr(settings, "AWS_SES_REGION_NAME", "") or "us-east-1"
    endpoint = getattr(settings, "AWS_SES_REGION_ENDPOINT", "")
    client = (
        get_connection()
        .create_session()
        .client(
            "ses",
            region_name=region,
            endpoint_url=f"https://{endpoint}" if endpoint else None,
            config=Config(
                connect_timeout=TIMEOUT_SECONDS,
                read_timeout=TIMEOUT_SECONDS,
                retries={"max_attempts": 1},
            ),
        )
    )
    quota = client.get_send_quota()
    return (
        f"Amazon SES, region {region}: {quota['SentLast24Hours']:.0f} of "
        f"{quota['Max24HourSend']:.0f} messages sent in the last 24 hours"
    )


def check_cloudinary() -> dict:
    if not getattr(settings, "CLOUDINARY_URL", ""):
        return {"configured": False, "reachable": None, "detail": "Not configured"}
    try:
        import cloudinary  # optional dependency, only with Cloudinary
        import cloudinary.api  # optional dependency, only with Cloudinary

        cloud = cloudinary.config().cloud_name or ""
        answer = cloudinary.api.ping(timeout=TIMEOUT_SECONDS)
        if answer.get("status") != "ok":
            raise RuntimeError(f"unexpected answer {dict(answer)!r}"[:200])
        detail = f"API answered (cloud {cloud})" if cloud else "API answered"
        return {"configured": True, "reachable": True, "detail": detail}
    except Exception as exc:
        return {"configured": True, "reachable": False, "detail": _error(exc)}


CHECKS = {"email": check_email, "cloudinary": check_cloudinary}


def status() -> dict[str, dict]:
    """Every check's result, from the cache when checked in the last minute."""
    digest = _config_digest()
    try:
        cached = cache.get(CACHE_KEY)
    except Exception:  # a cache outage only costs a live check
        logger.warning("Integrations: cache unavailable", exc_info=True)
        cached = None
    if cached and cached.get("config") == digest:
        return cached["result"]
    result = {}
    for name, check in CHECKS.items():
        try:
            result[name] = check()
        except Exception as exc:  # the checks do not raise; this is a last resort
            result[name] = {"reachable": False, "detail": _error(exc)}
    try:
        cache.set(CACHE_KEY, {"config": digest, "result": result}, CACHE_SECONDS)
    except Exception:
        logger.warning("Integrations: cache unavailable", exc_info=True)
    return result


def forget() -> None:
    """Drop the cached results (the next panel load checks again)."""
    try:
        cache.delete(CACHE_KEY)
    except Exception:
        logger.warning("Integrations: cache unavailable", exc_info=True)
