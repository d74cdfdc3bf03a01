"""The production static storage (``uscpis.static_storage.ManifestStaticStorage``): the same
URLs as WhiteNoise's manifest storage, each worked out once, never stale after the manifest
is rebuilt or a setting changes, and a file missing from the manifest refused every time."""

from __future__ import annotations

import pytest
from django.core.files.storage import FileSystemStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

from uscpis.static_storage import ManifestStaticStorage


def _collect(storage, source) -> None:
    """What ``collectstatic`` does for these files: copy them, then post-process."""
    paths = {}
    for name in ("css/app.css", "js/app.js"):
        with source.open(name) as handle:
            storage.save(name, handle)
        paths[name] = (source, name)
    for _name, _hashed, processed in storage.post_process(paths):
        assert not isinstance(processed, Exception), processed


@pytest.fixture
def static_tree(tmp_path):
    source = tmp_path / "src"
    (source / "css").mkdir(parents=True)
    (source / "js").mkdir()
    (source / "css" / "app.css").write_text("body { color: #123; }\n")
    (source / "js" / "app.js").write_text("console.log('v1');\n")
    return FileSystemStorage(location=source), tmp_path / "root"


def _storages(root, cls, **kwargs):
    return cls(location=root, base_url="/static/", **kwargs)


@pytest.mark.parametrize("name", ["css/app.css", "js/app.js", "css/app.css#top", "img/"])
def test_urls_are_whitenoises(static_tree, settings, name):
    settings.DEBUG = False
    source, root = static_tree
    _collect(_storages(root, CompressedManifestStaticFilesStorage), source)
    ours = _storages(root, ManifestStaticStorage)
    theirs = _storages(root, CompressedManifestStaticFilesStorage)
    assert ours.url(name) == theirs.url(name)
    assert ours.url(name) == theirs.url(name)  # the kept answer too
    assert ours.url(name, force=True) == theirs.url(name, force=True)
    if not name.endswith("/"):
        assert ours.url(name) != f"/static/{name}"  # the hashed name, not the plain one


def test_each_url_is_worked_out_once(static_tree, settings, monkeypatch):
    settings.DEBUG = False
    source, root = static_tree
    _collect(_storages(root, CompressedManifestStaticFilesStorage), source)
    storage = _storages(root, ManifestStaticStorage)
    calls = []
    original = CompressedManifestStaticFilesStorage.url

    def counted(self, name, force=False):
        calls.append(name)
        return original(self, name, force)

    monkeypatch.setattr(CompressedManifestStaticFilesStorage, "url", counted)
    first = storage.url("css/app.css")
    assert storage.url("css/app.css") == first
    assert storage.url("js/app.js") != first
    assert calls == ["css/app.css", "js/app.js"]


def test_debug_answers_the_plain_name(static_tree, settings):
    source, root = static_tree
    _collect(_storages(root, CompressedManifestStaticFilesStorage), source)
    storage = _storages(root, ManifestStaticStorage)
    settings.DEBUG = False
    hashed = storage.url("css/app.css")
    settings.DEBUG = True
    assert storage.url("css/app.css") == "/static/css/app.css"
    settings.DEBUG = False
    assert storage.url("css/app.css") == hashed


def test_a_file_missing_from_the_manifest_is_refused_every_time(static_tree, settings):
    settings.DEBUG = False
    source, root = static_tree
    _collect(_storages(root, CompressedManifestStaticFilesStorage), source)
    storage = _storages(root, ManifestStaticStorage)
    for _ in range(2):
        with pytest.raises(ValueError, match="nowhere.css"):
            storage.url("css/nowhere.css")


def test_a_rebuilt_manifest_gives_the_new_url(static_tree, settings):
    settings.DEBUG = False
    source, root = static_tree
    storage = _storages(root, ManifestStaticStorage)
    _collect(storage, source)
    before = storage.url("js/app.js")
    with source.open("js/app.js", "w") as handle:
        handle.write("console.log('v2');\n")
    _collect(storage, source)  # collectstatic again, in this process
    after = storage.url("js/app.js")
    assert after != before
    assert after == _storages(root, CompressedManifestStaticFilesStorage).url("js/app.js")


def test_the_static_tag_follows_setting_changes(static_tree, settings):
    """``{% static %}`` through this storage: a new STATIC_URL or DEBUG shows at once."""
    from django.template import Context, Template

    source, root = static_tree
    _collect(_storages(root, CompressedManifestStaticFilesStorage), source)
    settings.DEBUG = False
    settings.STATIC_ROOT = str(root)
    settings.STATIC_URL = "/static/"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "uscpis.static_storage.ManifestStaticStorage"},
    }
    tag = Template("{% load static %}{% static 'css/app.css' %}")
    hashed = tag.render(Context())
    assert hashed.startswith("/static/css/app.") and hashed != "/static/css/app.css"
    settings.STATIC_URL = "/assets/"
    assert tag.render(Context()) == hashed.replace("/static/", "/assets/", 1)
    settings.DEBUG = True
    assert tag.render(Context()) == "/assets/css/app.css"


def test_production_serves_static_files_through_it():
    from tests.uscpis.test_settings import PRODUCTION_ENV, settings_value

    backend = settings_value("settings.STORAGES['staticfiles']['BACKEND']", PRODUCTION_ENV)
    assert backend == "uscpis.static_storage.ManifestStaticStorage"
