"""Without chromium, browser tests skip loudly on a laptop but fail under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests/browser/test_chromium.py"  # needs no database, so no test database is touched


def _run(ci: bool):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_CURRENT_TEST")}
    env["CHROMIUM_PATH"] = "/nonexistent/chromium"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE, "-rs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_browser_is_a_loud_skip_outside_ci():
    result = _run(ci=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROWSER TESTS SKIPPED" in result.stdout and "1 skipped" in result.stdout


def test_missing_browser_fails_under_ci():
    result = _run(ci=True)
    assert result.returncode != 0
    assert "CANNOT RUN UNDER CI" in result.stdout
