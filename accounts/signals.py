"""Sign-in events go to the audit trail; a sign-in clears that account's lockout failures;
a changed user is no longer served from the signed-in user cache, nor a changed API token
from the token cache."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.audit import audit_record
from accounts.backends import forget_user
from accounts.lockout import lockout_reset_for
from accounts.models import ApiToken, AuditAction, User
from accounts.token_cache import forget_token


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action=AuditAction.LOGIN, request=request)
    if request is not None and hasattr(request, "session"):
        # The idle clock starts at sign-in, not at the first page after it.
        import time

        request.session["last_activity"] = int(time.time())
    lockout_reset_for(user=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:254]
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        request=request,
        allowed=False,
        actor_email=attempted,
        detail={"attempted": attempted},
    )


@receiver(post_save, sender=User)
@receiver(post_delete, sender=User)
def _user_changed(sender, instance, **kwargs):
    forget_user(instance.pk)


@receiver(post_save, sender=ApiToken)
@receiver(post_delete, sender=ApiToken)
def _token_changed(sender, instance, **kwargs):
    forget_token(instance.token_key)
