"""The Django admin: read-only, two-factor for everyone who can reach it, off in production."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, User
from accounts.roles import Role
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_a_superuser_who_is_not_an_administrator_needs_two_factor(client, make_user):
    boss = make_user(Role.DOCTOR, email="boss@usc.edu.ph", is_superuser=True, is_staff=True)
    assert boss.requires_two_factor
    client.force_login(boss)  # password only, no second factor
    response = client.get("/django-admin/")
    assert response.status_code == 302
    assert "/accounts/2fa/" in response["Location"]


def test_admin_is_read_only_and_refusals_are_audited(client, admin_user, make_user):
    admin_user.is_superuser = True
    admin_user.save()
    login(client, admin_user)
    victim = make_user(Role.NURSE, email="victim@usc.edu.ph")
    url = f"/django-admin/accounts/user/{victim.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"email": victim.email, "role": Role.ADMIN, "is_superuser": "on"})
    assert response.status_code == 403
    victim.refresh_from_db()
    assert victim.role == Role.NURSE and not victim.is_superuser
    assert AuditEvent.objects.filter(action="denied", actor=admin_user).exists()
    delete = client.post(f"/django-admin/accounts/user/{victim.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403 and User.objects.filter(pk=victim.pk).exists()


def test_admin_is_not_mounted_in_production():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "a.example",
        "SITE_URL": "https://a.example",
        "EMAIL_BACKEND": "smtp",
        "EMAIL_HOST": "smtp.example",
    }
    code = (
        "import django; django.setup(); from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/django-admin/'); print('mounted')\nexcept Resolver404:\n    print('off')"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "off", out.stderr[-2000:]


def test_uploaded_media_is_owner_only(settings, tmp_path):
    import stat

    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=str(tmp_path / "media"))
    name = storage.save("patients/1/lab.pdf", ContentFile(b"%PDF-1.4"))
    assert stat.S_IMODE((tmp_path / "media" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "media" / "patients" / "1").stat().st_mode) == 0o700
