"""Off-site copies of backups: S3 (boto3) or Cloudinary raw uploads, when configured.

S3: ``BACKUP_S3_BUCKET`` (optional ``BACKUP_S3_PREFIX``, ``BACKUP_S3_ENDPOINT_URL``, region
from ``AWS_REGION``; credentials from the usual AWS variables). Cloudinary: used when
``CLOUDINARY_URL`` is set and ``BACKUP_OFFSITE`` is not ``none``. Locations are recorded as
``s3://bucket/prefix/folder`` or ``cloudinary://raw/prefix/folder``: never a secret.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

from django.conf import settings

from monitoring.pg import BackupError


def _setting(name: str, default: str = "") -> str:
    return getattr(settings, name, None) or os.environ.get(name, default)


def target() -> str:
    """``"s3"``, ``"cloudinary"`` or ``""`` (no off-site copy)."""
    if _setting("BACKUP_OFFSITE").lower() == "none":
        return ""
    if _setting("BACKUP_S3_BUCKET"):
        return "s3"
    if getattr(settings, "CLOUDINARY_URL", ""):
        return "cloudinary"
    return ""


def describe() -> str:
    kind = target()
    if kind == "s3":
        return f"S3 bucket {_setting('BACKUP_S3_BUCKET')}"
    if kind == "cloudinary":
        return "Cloudinary (raw uploads)"
    return "Not configured: backups stay on this server only"


def _s3():
    import boto3  # optional dependency, used only with S3 off-site copies

    return boto3.client(
        "s3",
        region_name=_setting("AWS_REGION", "us-east-1") or "us-east-1",
        endpoint_url=_setting("BACKUP_S3_ENDPOINT_URL") or None,
    )


def _prefix() -> str:
    return _setting("BACKUP_S3_PREFIX", "uscpis-backups").strip("/")


def upload(folder: Path) -> str:
    """Copy every file of ``folder``; returns the remote location (or "" when not configured)."""
    kind = target()
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".tmp"))
    try:
        if kind == "s3":
            bucket, key_prefix = _setting("BACKUP_S3_BUCKET"), f"{_prefix()}/{folder.name}"
            client = _s3()
            for path in files:
                client.upload_file(str(path), bucket, f"{key_prefix}/{path.name}")
            return f"s3://{bucket}/{key_prefix}"
        if kind == "cloudinary":
            import cloudinary.uploader  # optional dependency, used only with Cloudinary off-site copies

            base = f"{_prefix()}/{folder.name}"
            for path in files:
                cloudinary.uploader.upload(
                    str(path),
                    resource_type="raw",
                    type="private",
                    public_id=f"{base}/{path.name}",
                    overwrite=True,
                )
            return f"cloudinary://raw/{base}"
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"Off-site upload failed: {exc.__class__.__name__}: {exc}"[:500]) from exc
    return ""


def fetch(location: str, folder: Path, names: list[str]) -> None:
    """Download ``names`` from ``location`` into ``folder`` (for a restore or verify)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if location.startswith("s3://"):
            bucket, _, key_prefix = location[5:].partition("/")
            client = _s3()
            for name in names:
                client.download_file(bucket, f"{key_prefix}/{name}", str(folder / name))
            return
        if location.startswith("cloudinary://raw/"):
            import cloudinary.utils  # optional dependency, used only with Cloudinary off-site copies

            base = location.removeprefix("cloudinary://raw/")
            for name in names:
                url = cloudinary.utils.private_download_url(
                    f"{base}/{name}", "", resource_type="raw", type="private"
                )
                with (
                    urllib.request.urlopen(url, timeout=60) as response,  # noqa: S310 (SDK-built https URL)
                    open(folder / name, "wb") as out,
                ):
                    shutil.copyfileobj(response, out)
            return
    except Exception as exc:
        raise BackupError(
            f"Fetching {location} failed: {exc.__class__.__name__}: {exc}"[:500]
        ) from exc
    raise BackupError(f"Unknown off-site location {location!r}")


def delete(location: str) -> None:
    """Remove an off-site copy (used by prune); errors are reported, not hidden."""
    try:
        if location.startswith("s3://"):
            bucket, _, key_prefix = location[5:].partition("/")
            client = _s3()
            listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{key_prefix}/")
            for obj in listed.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        elif location.startswith("cloudinary://raw/"):
            import cloudinary.api  # optional dependency, used only with Cloudinary off-site copies

            cloudinary.api.delete_resources_by_prefix(
                location.removeprefix("cloudinary://raw/"), resource_type="raw", type="private"
            )
    except Exception as exc:
        raise BackupError(f"Deleting {location} failed: {exc}"[:500]) from exc
