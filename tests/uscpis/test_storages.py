"""Cloudinary media storage: documents are uploaded private and read through signed,
expiring URLs. Cloudinary's uploader, admin API and HTTP downloads are mocked: no network."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditEvent
from patients.models import PatientDocument
from tests.patients.factories import PatientFactory

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class FakeResponse:
    def __init__(self, status_code: int, content: bytes = b""):
        self.status_code, self.content = status_code, content

    def raise_for_status(self):
        if self.status_code >= 400:
            raise OSError(f"HTTP {self.status_code}")


@pytest.fixture
def cloud(monkeypatch, settings):
    """Cloudinary configured with fake credentials as the default storage; records every
    upload and every URL fetched, and serves ``cloud.files`` by URL kind."""
    import cloudinary

    monkeypatch.setenv("CLOUDINARY_URL", "cloudinary://key:secret@democloud")
    cloudinary.reset_config()
    import cloudinary.uploader
    import requests

    import uscpis.storages  # noqa: F401 (needs the credentials above)

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "uscpis.storages.PrivateRawCloudinaryStorage"},
    }

    state = SimpleNamespace(uploads=[], fetched=[], private={}, public={})

    def upload(content, **options):
        public_id = f"{options['folder']}/{os.path.basename(content.name)}"
        state.uploads.append({"public_id": public_id, **options})
        target = state.private if options.get("type") == "private" else state.public
        target[public_id] = content.read()
        return {"public_id": public_id}

    def get(url, timeout=None):
        state.fetched.append(url)
        parts = urlsplit(url)
        if parts.netloc == "api.cloudinary.com":
            public_id = parse_qs(parts.query)["public_id"][0]
            found = state.private.get(public_id)
        else:  # public delivery URL .../raw/upload/v1/<public_id>
            found = state.public.get(re.sub(r"^.*/raw/upload/(v\d+/)?", "", parts.path))
        return FakeResponse(200, found) if found is not None else FakeResponse(404)

    monkeypatch.setattr(cloudinary.uploader, "upload", upload)
    monkeypatch.setattr(requests, "get", get)
    yield state
    monkeypatch.delenv("CLOUDINARY_URL")
    cloudinary.reset_config()


@pytest.mark.django_db
def test_documents_are_uploaded_private_and_downloaded_through_the_audited_view(
    cloud, nurse_user, client_for
):
    patient = PatientFactory()
    c = client_for(nurse_user)
    response = c.post(
        reverse("patients:document_upload", args=[patient.pk]),
        {"kind": "lab", "title": "CBC", "file": SimpleUploadedFile("cbc.pdf", PDF_BYTES)},
    )
    assert response.status_code == 302
    [sent] = cloud.uploads
    assert sent["type"] == "private" and sent["resource_type"] == "raw"
    doc = PatientDocument.objects.get()
    assert doc.file.name == sent["public_id"]

    download = c.get(reverse("patients:document_download", args=[doc.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF_BYTES
    [url] = cloud.fetched
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.netloc == "api.cloudinary.com" and parts.path.endswith("/raw/download")
    assert query["type"] == ["private"] and query["signature"] and query["expires_at"]
    assert AuditEvent.objects.filter(action="export", object_id=str(doc.pk)).count() == 1


@pytest.mark.django_db
def test_storage_url_is_signed_and_expiring(cloud):
    from django.core.files.storage import default_storage

    url = default_storage.url("uscpis/patients/1/x.pdf")
    parts = urlsplit(url)
    assert parts.netloc == "api.cloudinary.com" and "res.cloudinary.com" not in url
    assert parse_qs(parts.query)["type"] == ["private"]
    assert "signature" in parse_qs(parts.query) and "expires_at" in parse_qs(parts.query)


@pytest.mark.django_db
def test_files_uploaded_before_as_public_are_still_read(cloud):
    from django.core.files.storage import default_storage

    cloud.public["media-not-public/patients/1/old.pdf"] = PDF_BYTES
    with default_storage.open("media-not-public/patients/1/old.pdf") as handle:
        assert handle.read() == PDF_BYTES
    with pytest.raises(OSError):
        default_storage.open("media-not-public/patients/1/missing.pdf")
