"""Users, the audit trail and in-app notifications."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from knox.models import AbstractAuthToken, AuthTokenManager

from accounts.roles import PROVIDER_ROLES, STAFF_ROLES, Role, user_has_perm


class UserQuerySet(models.QuerySet):
    def update(self, **kwargs):
        """Bulk updates skip ``post_save``: the signed-in user cache
        (``accounts.backends``) is told about every row they touch."""
        # imported when called: the backend module imports this app's models
        from accounts.backends import forget_user

        pks = list(self.values_list("pk", flat=True))
        count = super().update(**kwargs)
        for pk in pks:
            forget_user(pk)
        return count

    update.alters_data = True


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        # Email is the login and is matched case-insensitively.
        return self.get(email__iexact=username)

    def _create(self, email: str, password: str | None, **fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields):
        fields.setdefault("role", Role.PATIENT)
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(role=Role.ADMIN, is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.PATIENT)
    is_active = models.BooleanField(default=True)
    # Django admin access; only administrators get it.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    email_notifications = models.BooleanField(
        "email me notifications",
        default=True,
        help_text="Also send in-app notifications by email.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_user_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["role", "is_active"])]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def is_clinic_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_provider(self) -> bool:
        return self.role in PROVIDER_ROLES

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def invitation_pending(self) -> bool:
        """Invited (no password yet) and never signed in: the invitation can be sent again."""
        return self.is_active and not self.has_usable_password() and self.last_login is None

    @property
    def requires_two_factor(self) -> bool:
        # Administrators, and anyone else who can reach the Django admin.
        return self.role == Role.ADMIN or self.is_staff or self.is_superuser

    def can(self, perm: str) -> bool:
        """Role-matrix check; templates use ``user.can`` through the ``can`` filter."""
        return user_has_perm(self, perm)

    def _get_session_auth_hash(self, secret=None):
        # A user from the signed-in user cache (accounts.backends) comes without its
        # password hash but with the session auth hash worked out from it.
        cached = self.__dict__.get("_cached_session_auth_hash")
        if secret is None and cached is not None and "password" not in self.__dict__:
            return cached
        return super()._get_session_auth_hash(secret=secret)


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    READ = "read", "Read"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGOUT = "logout", "Logout"
    DENIED = "denied", "Denied"
    EXPORT = "export", "Export"


class AuditEvent(models.Model):
    """One append-only entry of the audit trail.

    Written unsealed (``prev_hash`` and ``hash`` empty) in the transaction of the change it
    records; ``accounts.audit.audit_seal`` later chains events in id order, setting
    ``prev_hash`` to the previous event's ``hash`` and ``hash`` to SHA-256 of ``prev_hash``
    and this event's fields, so editing, deleting or reordering a sealed event breaks the
    chain from there on (``manage.py audit verify`` finds the first broken link). A database
    trigger refuses DELETE, any UPDATE of a sealed event, and any UPDATE of an unsealed one
    other than setting its seal.
    """

    created_at = models.DateTimeField(default=timezone.now)
    # No index of its own: the (actor, created_at) index below answers every lookup by actor
    # (and PROTECT's check on deleting a user), and each index is one more write per event.
    # No database foreign key either: its check ran at every event's commit and took a
    # KEY SHARE lock on the actor's row, dirtying that row's page (a WAL record) once per
    # audited request and making concurrent requests by one user share a multixact; it cost
    # more than the INSERT itself. What it guarded is kept otherwise: PROTECT refuses to
    # delete a user with events, nothing deletes users (they are deactivated), events are
    # written with the signed-in user's id, and actor_id is in the sealed hash.
    actor = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True)
    allowed = models.BooleanField(default=True)
    ip = models.CharField(max_length=45, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=512, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # The seal, set once by the sealer; empty until then.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["actor", "created_at"]),
            models.Index(fields=["patient_id", "created_at"]),
            models.Index(fields=["action", "created_at"]),
            # The sealer's work list: small, since events are sealed within seconds.
            models.Index(
                fields=["id"],
                condition=models.Q(hash__isnull=True),
                name="accounts_audit_unsealed_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hash__isnull=True, prev_hash__isnull=True)
                | models.Q(hash__isnull=False, prev_hash__isnull=False),
                name="accounts_audit_seal_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email or 'anonymous'} {self.action}"

    @property
    def is_sealed(self) -> bool:
        return self.hash is not None

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only")


class Notification(models.Model):
    """An in-app notification; emailed too when the user asked for email."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    category = models.CharField(max_length=40, default="general")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_wanted = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiTokenQuerySet(models.QuerySet):
    def update(self, **kwargs):
        """Bulk updates skip ``post_save``: the token cache (``accounts.token_cache``) is
        told about every key they touch."""
        from accounts.token_cache import forget_token  # that module imports these models

        keys = set(self.values_list("token_key", flat=True))
        if isinstance(kwargs.get("token_key"), str):
            keys.add(kwargs["token_key"])  # the key they move to
        count = super().update(**kwargs)
        for key in keys:
            forget_token(key)
        return count

    update.alters_data = True


class ApiToken(AbstractAuthToken):
    """A personal API token (django-rest-knox): only a SHA-512 digest of the secret is kept,
    it always expires, and it can be limited to reading. ``uid`` names it in URLs (the
    ``token_key`` is the start of the secret itself, so it never appears in a link)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    scope = models.CharField(max_length=12, choices=TokenScope.choices, default=TokenScope.READ)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuthTokenManager.from_queryset(ApiTokenQuerySet)()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=TokenScope.values),
                name="accounts_apitoken_scope_valid",
            ),
            # Tokens always expire (DRF's own tokens never do; ours must).
            models.CheckConstraint(
                condition=models.Q(expiry__isnull=False), name="accounts_apitoken_expires"
            ),
        ]
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_key}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == TokenScope.READ_WRITE


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an ``Idempotency-Key`` header: a retry with
    the same key returns it instead of booking, dispensing or paying twice. The row is
    inserted in the same transaction as the write, so two concurrent retries queue on the
    unique key and the second sees the first's result."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="accounts_idempotency_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class OutboxMessage(models.Model):
    """Follow-up work (an email, a reminder, a backup) recorded in the same transaction as
    the change that causes it, and relayed to Celery afterwards (``accounts/outbox.py``).

    A broker outage therefore delays the work and loses none of it, and the request that
    committed the change never fails because the broker is down. ``task`` is the Celery task
    name, so this app imports no domain app.
    """

    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)  # next relay attempt
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)  # published to the broker
    done_at = models.DateTimeField(null=True, blank=True)  # claimed by a task (``claim``)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="accounts_outbox_pending",
                condition=models.Q(sent_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
