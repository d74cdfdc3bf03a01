"""The signed-in user (read with the session), session idle timeout and the two-factor gate."""

from __future__ import annotations

import time
from functools import partial

from django.apps import apps
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.contrib.auth.middleware import auser
from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import LazyObject, SimpleLazyObject, empty
from django_htmx.http import HttpResponseClientRedirect
from django_otp import user_has_device
from django_otp.middleware import OTPMiddleware as DjangoOTPMiddleware
from django_otp.models import Device

from accounts.backends import reading_user_of
from uscpis.compiled import CompiledQuery

POLL_HEADER = "X-Poll"  # background polling (bell, monitor) is not user activity
_POLL_META = "HTTP_X_POLL"  # the same header in request.META (request.headers costs more)


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's, with the user read while the request's session is named to the backend, so
    it can use the cache entries the session engine fetched with the session
    (``accounts.sessions``): one cache round trip for both."""

    def process_request(self, request):
        # Django's, but with one lazy user instead of Django's replaced by this one.
        if not hasattr(request, "session"):
            raise ImproperlyConfigured(
                "accounts.middleware.AuthenticationMiddleware needs SessionMiddleware before it"
            )
        request.user = SimpleLazyObject(lambda: _get_user(request))
        request.auser = partial(auser, request)


def _get_user(request):
    # django.contrib.auth.middleware.get_user, inside reading_user_of(session)
    if not hasattr(request, "_cached_user"):
        with reading_user_of(request.session):
            request._cached_user = auth.get_user(request)
    return request._cached_user


class OTPMiddleware(DjangoOTPMiddleware):
    """django-otp's, with ``request.user`` verified at once instead of behind a second lazy
    wrapper: ``IdleTimeoutMiddleware``, next but for nothing that answers early, reads the
    user on every request anyway, so the wrapper only cost its own creation and calls.
    ``request.auser`` (async views) is django-otp's, unchanged."""

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        user = getattr(request, "user", None)
        if user is not None:
            request.user = self._verify_user_sync(request, _unwrapped(user))
        auser = getattr(request, "auser", None)
        if auser is not None:
            request.auser = partial(self._verify_user_async_via_auser, request, auser)
        return self.get_response(request)

    def _device_from_persistent_id(self, persistent_id: str):
        """django-otp's (``Device.from_persistent_id``), with the device read by SQL
        compiled once per process and device type (``uscpis.compiled``): every page a
        verified user opens reads it again, so a device deleted or unconfirmed since
        stops counting at once, as before."""
        persistent_id = self._normalize_persistent_id(persistent_id)
        try:
            label, device_id = persistent_id.rsplit("/", 1)
            app_label, model_name = label.split(".")
            model = apps.get_model(app_label, model_name)
            pk = int(device_id)
        except (ValueError, LookupError):
            return None
        if not issubclass(model, Device) or not -(2**63) <= pk < 2**63:
            return None
        lookup = _DEVICE_LOOKUPS.get(model)
        if lookup is None:
            lookup = _DEVICE_LOOKUPS[model] = CompiledQuery(
                model, lambda pk: model.objects.filter(id=pk)
            )
        return lookup.first(pk)


_DEVICE_LOOKUPS: dict[type, CompiledQuery] = {}


def _unwrapped(user):
    """The user itself out of (nested) lazy wrappers, loading it if not yet loaded."""
    while isinstance(user, LazyObject):
        if user._wrapped is empty:
            user._setup()
        user = user._wrapped
    return user


class IdleTimeoutMiddleware:
    """Sign out a user idle for longer than their timeout (30 minutes for staff)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if isinstance(user, LazyObject):
            # Every page reads the user dozens of times (templates, permission checks), and
            # each read through a lazy wrapper costs a Python call: the OTP middleware above
            # already unwrapped it; this is for a stack without it.
            user = request.user = _unwrapped(user)
        if user.is_authenticated:
            now = int(time.time())
            timeout = (
                settings.SESSION_IDLE_TIMEOUT_PATIENT
                if user.is_patient
                else settings.SESSION_IDLE_TIMEOUT_STAFF
            )
            last = request.session.get("last_activity")
            if last is not None and now - int(last) > timeout:
                logout(request)
                messages.info(request, "You were signed out after a period of inactivity.")
                return _redirect(request, f"{reverse('accounts:login')}?next={request.path}")
            if _POLL_META not in request.META and (last is None or now - int(last) > 30):
                request.session["last_activity"] = now
        return self.get_response(request)


class TwoFactorGateMiddleware:
    """Users with a TOTP device must enter a code; admins must enrol one before anything else.

    Until the session is verified only the paths it needs are open, matched exactly (a
    prefix such as ``/accounts/2fa/`` would also open ``disable/`` and ``recovery-codes/``):
    the code form, signing out, the bell count, static files and the health probes, plus
    the enrolment page for a user who has no device yet.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._open: frozenset[str] | None = None
        self._setup: str | None = None

    def setup_path(self) -> str:
        if self._setup is None:
            self._setup = reverse("accounts:two_factor_setup")
        return self._setup

    def open_paths(self) -> frozenset[str]:
        if self._open is None:
            self._open = frozenset(
                {
                    reverse("accounts:two_factor_verify"),
                    reverse("accounts:logout"),
                    reverse("accounts:notification_bell"),  # only a count; polled on every page
                    "/healthz",
                    "/readyz",
                }
            )
        return self._open

    def is_open(self, path: str) -> bool:
        return path in self.open_paths() or path.startswith(settings.STATIC_URL)

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not self.is_open(request.path):
            if user_has_confirmed_device(request):
                return _redirect(
                    request, f"{reverse('accounts:two_factor_verify')}?next={request.path}"
                )
            setup = self.setup_path()
            if user.requires_two_factor and request.path != setup:
                return _redirect(request, setup)
        return self.get_response(request)


HAS_DEVICE_KEY = "_2fa_has_device"
HAS_DEVICE_RECHECK_SECONDS = 300


def user_has_confirmed_device(request) -> bool:
    """Whether the signed-in user has a confirmed device, re-read at most every 5 minutes.

    Saves two queries on every request of staff who do not use two-factor authentication;
    a device enrolled from another session is noticed within five minutes.
    """
    now = int(time.time())
    cached = request.session.get(HAS_DEVICE_KEY)
    if cached is not None and now - cached[1] < HAS_DEVICE_RECHECK_SECONDS:
        return bool(cached[0])
    has_device = user_has_device(request.user, confirmed=True)
    request.session[HAS_DEVICE_KEY] = [has_device, now]
    return has_device


def forget_device_state(request) -> None:
    request.session.pop(HAS_DEVICE_KEY, None)


def _redirect(request, url: str):
    """A redirect that also works for HTMX requests (which would otherwise follow it and
    swap a whole page into a fragment)."""
    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(url)
    return redirect(url)
