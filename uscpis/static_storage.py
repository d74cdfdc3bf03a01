"""Production static files: WhiteNoise's compressed manifest storage, each URL worked out once.

``{% static %}`` asks the storage for a file's URL on every render. For the manifest storage
that is a URL split, a manifest lookup, a join with ``STATIC_URL`` and an unquote: ~15 µs,
and ~40 µs inside a real request (a page's first touch of that code), for an answer that
only changes when the manifest or the settings do. Here each answer is kept per process,
keyed by the name asked for, ``force`` and ``DEBUG`` (which makes Django answer the unhashed
name), and forgotten when the manifest is rebuilt (``collectstatic``) or a setting changes.
Anything the storage refuses (a file missing from a strict manifest) is refused every time:
only answers are kept.
"""

from __future__ import annotations

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage

# More names than the project's static files can ever ask for; reached, the memo starts over.
MAX_URLS = 4096


class ManifestStaticStorage(CompressedManifestStaticFilesStorage):
    """``whitenoise.storage.CompressedManifestStaticFilesStorage``, with ``url`` memoised."""

    def __init__(self, *args, **kwargs):
        self._urls: dict[tuple[str, bool, bool], str] = {}
        super().__init__(*args, **kwargs)

    def url(self, name, force=False):
        key = (name, bool(force), bool(settings.DEBUG))
        found = self._urls.get(key)
        if found is None:
            found = super().url(name, force)
            if len(self._urls) >= MAX_URLS:
                self._urls.clear()
            self._urls[key] = found
        return found

    def post_process(self, *args, **kwargs):
        # collectstatic rebuilds the manifest: URLs named before (or during) it are stale
        self._urls.clear()
        try:
            yield from super().post_process(*args, **kwargs)
        finally:
            self._urls.clear()

    def _clear_cached_properties(self, setting, **kwargs):
        # connected to setting_changed by FileSystemStorage (STATIC_URL, STATIC_ROOT, ...)
        super()._clear_cached_properties(setting, **kwargs)
        self._urls.clear()
