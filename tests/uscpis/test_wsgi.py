"""What a gunicorn worker gets when it loads ``uscpis.wsgi``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import gc, json, sys
before = len(gc.get_objects())
import uscpis.wsgi
from django.urls import get_resolver
resolver = get_resolver()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "populated": resolver._populated,
    "app": type(uscpis.wsgi.application).__name__,
}))
"""


def test_the_worker_loads_urls_then_freezes_what_it_loaded():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "uscpis.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["app"] == "WSGIHandler"
    # URL patterns are loaded at import, not by the first request ...
    assert seen["populated"] is True
    # ... and what the worker loaded is out of the collector's sight: tens of thousands of
    # objects frozen, few left for each full collection to walk.
    assert seen["frozen"] > 50_000
    assert seen["tracked"] < seen["frozen"] / 10
