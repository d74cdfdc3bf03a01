"""Uploaded documents: type sniffed from the content, size capped, title cleaned."""

from __future__ import annotations

import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import user_has_perm
from patients.models import (
    Patient,
    PatientDocument,
    Visit,
)

# (magic prefix, content type, extension)
MAGIC_TYPES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
    (b"DICM", "application/dicom", "dcm"),  # at offset 128
)


MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """The (content type, extension) the first bytes prove, or None when not allowed."""
    for magic, ctype, ext in MAGIC_TYPES:
        if ctype == "application/dicom":
            if head[128:132] == magic:
                return ctype, ext
        elif head.startswith(magic):
            return ctype, ext
    return None


def _document_title(title: str, filename: str) -> str:
    """The given title, or else the file's name, shortened to fit the title column: a long
    file name keeps its start and its extension, with an ellipsis between."""
    limit = PatientDocument._meta.get_field("title").max_length
    text = title.strip() or filename.strip() or "document"
    if len(text) <= limit:
        return text
    stem, dot, ext = text.rpartition(".")
    if title.strip() or not dot or not stem or len(ext) > 10:
        return text[: limit - 1].rstrip() + "…"
    return stem[: limit - len(ext) - 2].rstrip() + "…." + ext


@transaction.atomic
def document_upload(
    *,
    actor: User | None,
    patient: Patient,
    upload,
    kind: str,
    title: str,
    visit: Visit | None = None,
) -> PatientDocument:
    """Store an uploaded file through the default storage after checking its real type.

    Allowed: PDF, PNG, JPEG, TIFF, DICOM, by their magic bytes (the name and the browser's
    claimed type are ignored); at most ``MAX_DOCUMENT_BYTES``.
    """
    if not user_has_perm(actor, "patients.manage_documents"):
        raise PermissionDenied("Your role cannot upload documents.")
    if visit is not None and visit.patient_id != patient.pk:
        raise ValidationError({"visit": "That visit belongs to another patient."})
    if upload.size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {"file": f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB."}
        )
    if upload.size == 0:
        raise ValidationError({"file": "The file is empty."})
    upload.seek(0)
    head = upload.read(160)
    sniffed = sniff_content_type(head)
    if sniffed is None:
        raise ValidationError(
            {"file": "Only PDF, PNG, JPEG, TIFF or DICOM files are accepted (checked by content)."}
        )
    content_type, ext = sniffed
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    base = (upload.name or "document").rsplit("/", 1)[-1][:200]
    doc = PatientDocument(
        patient=patient,
        visit=visit,
        kind=kind,
        title=_document_title(title, base),
        original_name=base,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
    )
    doc.file.save(f"upload.{ext}", upload, save=False)
    doc.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=doc,
        patient_id=patient.pk,
        detail={"kind": kind, "size": upload.size, "content_type": content_type},
    )
    return doc
