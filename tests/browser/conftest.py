"""Playwright + Debian's chromium for browser journeys.

Without /usr/bin/chromium the browser tests are skipped with a loud notice, except under CI
(``CI=true``), where a missing browser is a failure. A failing test leaves a screenshot in
``test-artifacts/``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"!!! {CHROMIUM} not found: BROWSER TESTS SKIPPED (apt-get install chromium) !!!"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message.replace("SKIPPED", "CANNOT RUN UNDER CI"))
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _new_page(browser, request, *, width=1280, height=860):
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="en-US", timezone_id="Asia/Manila"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors
    return context, page


@pytest.fixture
def page(browser, request):
    """A fresh browser tab; screenshot kept in test-artifacts/ when the test fails."""
    context, tab = _new_page(browser, request)
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def new_page(browser, request):
    """Factory for extra tabs in separate contexts (two people racing, for instance)."""
    contexts = []

    def make(width=1280, height=860):
        context, tab = _new_page(browser, request, width=width, height=height)
        contexts.append((context, tab))
        return tab

    yield make
    for i, (context, tab) in enumerate(contexts):
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
        context.close()


def browser_login(page, live_server, email: str, password: str, *, totp_device=None) -> None:
    """Sign in through the real login form (and the two-factor step when a device is given)."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    if totp_device is not None:
        from django_otp.oath import totp

        page.wait_for_selector("input[name=token]")
        code = f"{totp(totp_device.bin_key, step=totp_device.step, digits=totp_device.digits):0{totp_device.digits}d}"
        page.fill("input[name=token]", code)
        page.click("text=Verify")
