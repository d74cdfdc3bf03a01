from __future__ import annotations

import base64
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import selectors, services
from accounts.audit import audit_record
from accounts.forms import (
    ApiTokenForm,
    AuditFilterForm,
    CurrentCodeForm,
    LoginForm,
    PasswordResetForm,
    PreferencesForm,
    TokenForm,
    UserEditForm,
    UserFilterForm,
    UserInviteForm,
)
from accounts.middleware import forget_device_state
from accounts.models import ApiToken, AuditAction, User
from accounts.permissions import public, require_perm
from uscpis.forms import parse_id
from uscpis.http import Request, render_page
from uscpis.pagination import CappedPaginator
from uscpis.ratelimit import rate_limited
from uscpis.registry import dashboard_cards

NEW_TOKEN_SESSION_KEY = "api_token_new_secret"

# Per address, on top of django-axes' lockout (which counts failures per account and per
# address): one address trying many accounts is slowed down too.
login = public(
    rate_limited("login")(
        auth_views.LoginView.as_view(
            template_name="accounts/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        )
    )
)
logout = public(auth_views.LogoutView.as_view())


class _AuditedPasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                action=AuditAction.UPDATE,
                obj=form.user,
                request=self.request,
                detail={"password": "changed"},
            )
        return response


class _AuditedPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        # An invited account choosing its first password, or a reset of an existing one.
        what = "reset" if form.user.has_usable_password() else "set from invitation"
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                actor=form.user,
                action=AuditAction.UPDATE,
                obj=form.user,
                request=self.request,
                detail={"password": what},
            )
        return response


password_change = require_perm("accounts.signed_in")(
    _AuditedPasswordChangeView.as_view(
        template_name="accounts/password_change.html",
        success_url=reverse_lazy("accounts:password_change_done"),
    )
)
password_change_done = require_perm("accounts.signed_in")(
    auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html")
)


class _SiteUrlPasswordResetView(auth_views.PasswordResetView):
    """The link in the email is built from SITE_URL, never from the request's Host header
    (a forged Host would otherwise send a victim a reset link to someone else's server)."""

    def form_valid(self, form):

        site = urlsplit(settings.SITE_URL)
        self.domain_override = site.netloc
        form.save(  # not a write: PasswordResetForm.save only sends the email
            domain_override=site.netloc,
            use_https=site.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            html_email_template_name=self.html_email_template_name,
            extra_email_context={**(self.extra_email_context or {}), "domain": site.netloc},
        )
        return redirect(self.get_success_url())


_password_reset_view = _SiteUrlPasswordResetView.as_view(
    form_class=PasswordResetForm,
    template_name="accounts/password_reset.html",
    email_template_name="emails/password_reset.txt",
    html_email_template_name="emails/password_reset.html",
    subject_template_name="emails/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
    extra_email_context={"clinic_name": settings.CLINIC_NAME},
)
# Per address and per mailbox: nobody can flood one inbox with reset emails.
password_reset = public(
    rate_limited("password_reset", account=lambda request: request.POST.get("email", "")[:254])(
        _password_reset_view
    )
)
password_reset_done = public(
    auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
)
password_reset_confirm = public(
    _AuditedPasswordResetConfirmView.as_view(
        template_name="accounts/password_reset_confirm.html",
        success_url=reverse_lazy("accounts:password_reset_complete"),
    )
)
password_reset_complete = public(
    auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"
    )
)


@require_GET
@require_perm("accounts.signed_in")
def home(request: Request):
    cards = dashboard_cards(request.user)
    return render_page(request, "accounts/home.html", {"cards": cards})


# --- Two-factor authentication ---------------------------------------------------------


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


@require_http_methods(["GET", "POST"])
@require_perm("accounts.signed_in")
def two_factor_setup(request: Request):
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return _two_factor_status(request)
    device = services.totp_device_start(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.two_factor_enrol(
                user=user, device=device, token=form.cleaned_data["token"]
            )
        except ValidationError as exc:
            form.add_error("token", exc)
        else:
            otp_login(request, device)
            forget_device_state(request)
            return render_page(request, "accounts/recovery_codes.html", {"codes": codes})
    context = {
        "form": form,
        "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 (our own generated SVG)
        "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
        "required": user.requires_two_factor,
    }
    return render_page(request, "accounts/two_factor_setup.html", context)


def _two_factor_status(request: Request, *, codes_form=None, disable_form=None, status: int = 200):
    context = {
        "codes_form": codes_form or CurrentCodeForm(prefix="codes"),
        "disable_form": disable_form or CurrentCodeForm(prefix="disable"),
    }
    return render_page(request, "accounts/two_factor_status.html", context, status=status)


def _current_code_form(
    request: Request, *, prefix: str, purpose: str
) -> tuple[CurrentCodeForm, bool]:
    """Bind the "current code" form; True when it holds a valid code of the user's devices.

    Changing two-factor settings needs a verified session *and* a fresh code, so neither a
    session signed in with only the password nor one left open on a shared computer can
    turn the second factor off or replace the recovery codes.
    """
    form = CurrentCodeForm(request.POST, prefix=prefix)
    if not form.is_valid():
        return form, False
    if match_token(request.user, form.cleaned_data["code"]) is not None:
        return form, True
    audit_record(
        action=AuditAction.DENIED,
        request=request,
        allowed=False,
        detail={"two_factor": f"wrong code to {purpose}"},
    )
    form.add_error("code", "That code is not valid.")
    return form, False


@require_POST
@require_perm("accounts.signed_in")
def two_factor_recovery_codes(request: Request):
    if not TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect("accounts:two_factor_setup")
    if not request.user.is_verified():
        return redirect("accounts:two_factor_verify")
    form, ok = _current_code_form(request, prefix="codes", purpose="make new recovery codes")
    if not ok:
        return _two_factor_status(request, codes_form=form, status=422)
    codes = services.recovery_codes_regenerate(user=request.user)
    return render_page(request, "accounts/recovery_codes.html", {"codes": codes})


@require_POST
@require_perm("accounts.signed_in")
def two_factor_disable(request: Request):
    user = request.user
    if user.requires_two_factor:
        messages.error(request, "Administrators must keep two-factor authentication on.")
        return redirect("accounts:two_factor_setup")
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("accounts:two_factor_setup")
    if not user.is_verified():
        return redirect("accounts:two_factor_verify")
    form, ok = _current_code_form(request, prefix="disable", purpose="turn two-factor off")
    if not ok:
        return _two_factor_status(request, disable_form=form, status=422)
    services.two_factor_disable(user=user)
    forget_device_state(request)
    messages.success(request, "Two-factor authentication is off.")
    return redirect("accounts:two_factor_setup")


@require_http_methods(["GET", "POST"])
@require_perm("accounts.signed_in")
def two_factor_verify(request: Request):
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            audit_record(
                action=AuditAction.LOGIN,
                request=request,
                detail={"two_factor": device.__class__.__name__},
            )
            return redirect(next_url or "accounts:home")
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            request=request,
            allowed=False,
            detail={"two_factor": "wrong code"},
        )
        form.add_error("token", "That code is not valid.")
    return render_page(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": next_url, "bare_layout": True},
    )


# --- User administration ---------------------------------------------------------------


@require_GET
@require_perm("accounts.manage_users")
def user_list(request: Request):
    form = UserFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    users = selectors.user_list(q=data.get("q", ""), role=data.get("role", ""))
    page = Paginator(users, 25).get_page(request.GET.get("page"))
    return render_page(
        request, "accounts/user_list.html", {"form": form, "page": page}, partial="user-table"
    )


@require_http_methods(["GET", "POST"])
@require_perm("accounts.manage_users")
def user_invite(request: Request):
    form = UserInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_invite(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Invitation sent to {user.email}.")
            return redirect("accounts:user_list")
    status = 422 if form.errors else 200
    return render_page(
        request, "accounts/user_form.html", {"form": form, "inviting": True}, status=status
    )


@require_http_methods(["GET", "POST"])
@require_perm("accounts.manage_users")
def user_edit(request: Request, pk: int):
    target = get_object_or_404(User, pk=pk)
    form = UserEditForm(request.POST or None, instance=User.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=request.user, user=target, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{target.email} updated.")
            return redirect("accounts:user_list")
    status = 422 if form.errors else 200
    return render_page(
        request, "accounts/user_form.html", {"form": form, "target": target}, status=status
    )


@require_POST
@require_perm("accounts.manage_users")
def user_invite_resend(request: Request, pk: int):
    target = get_object_or_404(User, pk=pk)
    try:
        services.user_invite_resend(actor=request.user, user=target)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Invitation sent again to {target.email}.")
    return redirect("accounts:user_edit", pk=target.pk)


@require_GET
@require_perm("accounts.view_audit")
def audit_list(request: Request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_search(**{k: v for k, v in data.items() if v not in (None, "")})
    page = selectors.audit_page(
        events, before=parse_id(request.GET.get("before")), after=parse_id(request.GET.get("after"))
    )
    params = request.GET.copy()
    for key in ("before", "after", "page"):
        params.pop(key, None)
    return render_page(
        request,
        "accounts/audit_list.html",
        {"form": form, "page": page, "query": params.urlencode()},
        partial="audit-table",
    )


# --- Notifications and preferences -----------------------------------------------------


@require_GET
@require_perm("accounts.signed_in")
def notification_list(request: Request):
    page = Paginator(selectors.notifications_for(request.user), 20).get_page(
        request.GET.get("page")
    )
    return render_page(
        request, "accounts/notifications.html", {"page": page}, partial="notification-list"
    )


@require_GET
@require_perm("accounts.signed_in")
def notification_bell(request: Request):
    return render_page(
        request, "accounts/_bell.html", {"unread": selectors.unread_count(request.user)}
    )


@require_POST
@require_perm("accounts.signed_in")
def notification_read(request: Request, pk: int | None = None):
    services.notification_mark_read(user=request.user, notification_id=pk)
    if request.htmx:
        page = Paginator(selectors.notifications_for(request.user), 20).get_page(
            request.POST.get("page")
        )
        response = render_page(
            request, "accounts/notifications.html", {"page": page}, partial="notification-list"
        )
        response["HX-Trigger"] = "notifications-changed"
        return response
    return redirect("accounts:notifications")


@require_http_methods(["GET", "POST"])
@require_perm("accounts.signed_in")
def preferences(request: Request):
    initial = {"email_notifications": request.user.email_notifications}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.user_set_preferences(user=request.user, **form.cleaned_data)
        messages.success(request, "Preferences saved.")
        return redirect(reverse("accounts:preferences"))
    return render_page(request, "accounts/preferences.html", {"form": form})


# --- Personal API tokens -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm("accounts.signed_in")
def api_tokens(request: Request):
    """The caller's API tokens: create one, see when and from where each was last used,
    revoke. A new token's secret is shown once: kept in the session only until the page
    after the redirect has shown it (so a reload neither re-posts nor shows it again)."""
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, secret = services.api_token_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in getattr(exc, "error_dict", {None: exc.error_list}).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            request.session[NEW_TOKEN_SESSION_KEY] = secret
            return redirect(reverse("accounts:api_tokens"))
    secret = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created")
    response = render_page(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": tokens, "secret": secret, "max_days": settings.API_TOKEN_MAX_DAYS},
        status=422 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_perm("accounts.signed_in")
def api_token_revoke(request: Request, uid):
    """Revoke one of one's own tokens (administrators: anyone's; "not found" and "not
    yours" are the same 404)."""
    token = selectors.api_token_for_user(request.user, uid)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
    back = "accounts:api_token_admin" if token.user_id != request.user.pk else "accounts:api_tokens"
    return redirect(reverse(back))


@require_GET
@require_perm("accounts.manage_users")
def api_token_admin(request: Request):
    """Every user's API tokens, for administrators (revoke any)."""
    q = request.GET.get("q", "").replace("\x00", "").strip()[:100]  # PostgreSQL refuses NUL
    tokens = selectors.api_tokens_all(q=q)
    page = CappedPaginator(tokens, 50, cap=5000).get_page(request.GET.get("page"))
    return render_page(
        request, "accounts/api_token_admin.html", {"page": page, "q": q}, partial="token-table"
    )
