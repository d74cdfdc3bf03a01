"""Settings: production switch, loud failures on malformed values, backend selection.

Each case starts a fresh interpreter, because settings are read once at start-up.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "clinic.example.org",
    "DATABASE_URL": "postgres://uscpis@db.invalid:5432/uscpis",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "SITE_URL": "https://clinic.example.org",
    "EMAIL_BACKEND": "smtp",
    "EMAIL_HOST": "smtp.example.org",
}


def run_manage(
    *args,
    env_overrides: dict,
    drop=(
        "DATABASE_URL",
        "REDIS_URL",
        "DEBUG",
        "DJANGO_ENV",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "SITE_URL",
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "TRUSTED_PROXY_COUNT",
        "AWS_SES_REGION_NAME",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
    ),
):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_value(expr: str, env_overrides: dict) -> str:
    code = f"from django.conf import settings; print({expr})"
    result = run_manage("shell", "--no-imports", "-c", code, env_overrides=env_overrides)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_production_passes_check_deploy_at_warning_level():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_turns_on_transport_security():
    out = settings_value(
        "settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SECURE_HSTS_SECONDS >= 31536000, settings.DEBUG",
        PRODUCTION_ENV,
    )
    assert out == "True True True True False"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL"])
def test_production_requires_secret_key_allowed_hosts_and_site_url(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", env_overrides=env)
    assert result.returncode != 0
    assert f"{missing} is required when DJANGO_ENV=production" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("AXES_FAILURE_LIMIT", "five", "AXES_FAILURE_LIMIT must be an integer"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must point at PostgreSQL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        ("CLINIC_TIME_ZONE", "Mars/Olympus", "is not a known time zone"),
        ("DJANGO_ENV", "staging", "DJANGO_ENV must be one of"),
        ("CLOUDINARY_URL", "https://example", "CLOUDINARY_URL must look like"),
    ],
)
def test_malformed_values_fail_at_start_up_with_a_clear_message(name, value, message):
    env = {"DATABASE_URL": "postgres://u@db.invalid/x", name: value}
    result = run_manage("check", env_overrides=env)
    assert result.returncode != 0
    assert message in result.stderr


def test_cloudinary_is_the_media_storage_when_configured():
    env = {
        "DATABASE_URL": "postgres://u@db.invalid/x",
        "CLOUDINARY_URL": "cloudinary://key:secret@democloud",
    }
    out = settings_value(
        "settings.STORAGES['default']['BACKEND'], 'cloudinary_storage' in settings.INSTALLED_APPS, "
        "settings.INSTALLED_APPS.index('cloudinary_storage') > settings.INSTALLED_APPS.index('django.contrib.staticfiles')",
        env,
    )
    assert out == "uscpis.storages.PrivateRawCloudinaryStorage True True"


def test_local_media_when_cloudinary_is_not_configured():
    out = settings_value(
        "settings.STORAGES['default']['BACKEND'], settings.MEDIA_URL",
        {"DATABASE_URL": "postgres://u@db.invalid/x"},
    )
    assert out == "django.core.files.storage.FileSystemStorage /media-not-public/"


def test_ses_is_the_email_backend_when_aws_is_configured():
    env = {
        "DATABASE_URL": "postgres://u@db.invalid/x",
        "AWS_SES_REGION_NAME": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    assert settings_value("settings.EMAIL_BACKEND", env) == "django_ses.SESBackend"
    assert (
        settings_value("settings.EMAIL_BACKEND", {"DATABASE_URL": "postgres://u@db.invalid/x"})
        == "django.core.mail.backends.console.EmailBackend"
    )


def test_redis_url_selects_redis_cache_and_broker():
    env = {"DATABASE_URL": "postgres://u@db.invalid/x", "REDIS_URL": "redis://127.0.0.1:6379/5"}
    out = settings_value("settings.CACHES['default']['BACKEND'], settings.CELERY_BROKER_URL", env)
    assert out == "uscpis.cache_mirror.RedisCache redis://127.0.0.1:6379/5"
    out = settings_value(
        "settings.CACHES['default']['BACKEND'], settings.CELERY_BROKER_URL",
        {"DATABASE_URL": "postgres://u@db.invalid/x"},
    )
    assert out == "django.core.cache.backends.filebased.FileBasedCache filesystem://"


def test_database_connections_persist_and_are_checked_before_reuse():
    env = {"DATABASE_URL": "postgres://u@db.invalid/x"}
    expr = "settings.DATABASES['default']['CONN_MAX_AGE'], settings.DATABASES['default']['CONN_HEALTH_CHECKS']"
    assert settings_value(expr, env) == "60 True"
    assert settings_value(expr, {**env, "DB_CONN_MAX_AGE": "0"}) == "0 True"
    result = run_manage("check", env_overrides={**env, "DB_CONN_MAX_AGE": "-1"})
    assert result.returncode != 0
    assert "DB_CONN_MAX_AGE" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"EMAIL_BACKEND": ""}, "delivers nothing"),  # no SES keys: would fall back to the console
        ({"EMAIL_BACKEND": "console"}, "delivers nothing"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}, "delivers nothing"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}, "delivers nothing"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}, "delivers nothing"),
        ({"EMAIL_HOST": ""}, "EMAIL_HOST is required with EMAIL_BACKEND=smtp"),
    ],
)
def test_production_refuses_email_that_goes_nowhere(overrides, message):
    result = run_manage("check", env_overrides={**PRODUCTION_ENV, **overrides})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_email_through_smtp_or_ses():
    out = settings_value(
        "settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_USE_TLS, settings.SITE_URL",
        PRODUCTION_ENV,
    )
    assert (
        out
        == "django.core.mail.backends.smtp.EmailBackend smtp.example.org True https://clinic.example.org"
    )
    ses = {
        **PRODUCTION_ENV,
        "EMAIL_BACKEND": "",
        "AWS_SES_REGION_NAME": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    assert settings_value("settings.EMAIL_BACKEND", ses) == "django_ses.SESBackend"


def test_site_url_must_be_an_http_url():
    result = run_manage(
        "check",
        env_overrides={
            "DATABASE_URL": "postgres://u@db.invalid/x",
            "SITE_URL": "clinic.example.org",
        },
    )
    assert result.returncode != 0
    assert "SITE_URL must start with http:// or https://" in result.stderr


def test_trusted_proxy_count_defaults_to_zero_and_is_set_explicitly():
    assert settings_value("settings.TRUSTED_PROXY_COUNT", PRODUCTION_ENV) == "0"
    assert (
        settings_value(
            "settings.TRUSTED_PROXY_COUNT", {**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "2"}
        )
        == "2"
    )
    assert (
        settings_value(
            "settings.TRUSTED_PROXY_COUNT", {"DATABASE_URL": "postgres://u@db.invalid/x"}
        )
        == "0"
    )
    result = run_manage(
        "check",
        env_overrides={"DATABASE_URL": "postgres://u@db.invalid/x", "TRUSTED_PROXY_COUNT": "-1"},
    )
    assert result.returncode != 0 and "TRUSTED_PROXY_COUNT" in result.stderr


def test_lockout_keys_and_session_engine():
    out = settings_value(
        "settings.AXES_RESET_ON_SUCCESS, settings.AXES_USERNAME_CALLABLE, "
        "settings.AXES_CLIENT_IP_CALLABLE, settings.SESSION_ENGINE",
        {"DATABASE_URL": "postgres://u@db.invalid/x", "REDIS_URL": "redis://127.0.0.1:6379/5"},
    )
    assert out == "False accounts.lockout.lockout_username uscpis.http.client_ip accounts.sessions"
