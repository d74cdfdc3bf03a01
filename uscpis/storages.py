"""Cloudinary media storage that never publishes an uploaded file.

django-cloudinary-storage uploads with Cloudinary's default delivery type ``upload``: anyone
holding the URL downloads the file, with no permission check and no audit event. Patient
documents are uploaded here with delivery type ``private`` instead: the original has no
public URL and can only be fetched through a signed, expiring API download URL. The app
reads it server-side and hands it over only through its permission-checked, audited views.

Importing this module needs Cloudinary credentials (``CLOUDINARY_URL``), like
``cloudinary_storage.storage`` itself; settings name it only when ``CLOUDINARY_URL`` is set.
"""

from __future__ import annotations

import os
import time

import cloudinary.api
import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils
import requests
from cloudinary_storage.storage import RawMediaCloudinaryStorage
from django.core.files.base import ContentFile
from django.utils.deconstruct import deconstructible

SIGNED_URL_SECONDS = 300


@deconstructible
class PrivateRawCloudinaryStorage(RawMediaCloudinaryStorage):
    """Raw files of delivery type ``private``, read through signed expiring URLs.

    Files uploaded before this storage (public ``upload`` type) are still read, deleted and
    found; convert them with ``cloudinary.uploader.rename(id, id, resource_type="raw",
    type="upload", to_type="private")``. Network failures raise ``requests`` or Cloudinary
    exceptions; a missing file raises ``OSError`` on open.
    """

    DELIVERY_TYPE = "private"

    def _upload(self, name, content):
        options = {
            "use_filename": True,
            "resource_type": self._get_resource_type(name),
            "type": self.DELIVERY_TYPE,
            "tags": self.TAG,
        }
        folder = os.path.dirname(name)
        if folder:
            options["folder"] = folder
        return cloudinary.uploader.upload(content, **options)

    def signed_url(self, name: str, *, seconds: int = SIGNED_URL_SECONDS) -> str:
        """A download URL for ``name`` that stops working after ``seconds``."""
        return cloudinary.utils.private_download_url(
            self._prepend_prefix(name),
            "",  # raw public ids keep their extension
            resource_type=self._get_resource_type(name),
            type=self.DELIVERY_TYPE,
            expires_at=int(time.time()) + seconds,
        )

    def url(self, name):
        return self.signed_url(name)

    def _open(self, name, mode="rb"):
        response = requests.get(self.signed_url(name), timeout=60)
        if response.status_code == 404:
            return super()._open(name, mode)  # uploaded before files were private
        response.raise_for_status()
        file = ContentFile(response.content)
        file.name = name
        file.mode = mode
        return file

    def _resource(self, name) -> dict | None:
        try:
            return cloudinary.api.resource(
                self._prepend_prefix(name),
                resource_type=self._get_resource_type(name),
                type=self.DELIVERY_TYPE,
            )
        except cloudinary.exceptions.NotFound:
            return None

    def exists(self, name):
        return self._resource(name) is not None or super().exists(name)

    def size(self, name):
        resource = self._resource(name)
        return resource["bytes"] if resource else super().size(name)

    def delete(self, name):
        response = cloudinary.uploader.destroy(
            name,
            invalidate=True,
            resource_type=self._get_resource_type(name),
            type=self.DELIVERY_TYPE,
        )
        return response.get("result") == "ok" or super().delete(name)
