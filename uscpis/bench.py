"""The benchmark harness behind ``make bench`` (``manage.py bench``).

Domains contribute ``<app>/bench.py`` with:

* ``generate(scale: dict[str, int], stdout) -> None`` — bring the bench database up to the
  requested scale with bulk inserts (``COPY``/``bulk_create``), never one ORM save per row;
  it must be idempotent (top up to the target, don't duplicate).
* ``CASES: list[BenchCase]`` — named measurements.

Each case's ``prepare()`` runs once and returns a zero-argument callable; the harness calls
it ``--requests`` times, timing each call server-side (in-process, no network) and counting
its queries, then prints p50/p95 per case and writes the results to a JSON file.
Speed targets from the issues are checked here, never in timed tests.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import api_token_create


@dataclass
class BenchCase:
    name: str
    prepare: Callable[[], Callable[[], object]]
    target_ms: float | None = None  # p95 target; None = report only
    description: str = ""


@dataclass
class BenchResult:
    name: str
    runs: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    queries: int
    target_ms: float | None
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        return None if self.target_ms is None else self.p95_ms <= self.target_ms


def signed_in_client(user):
    """A test client signed in as ``user`` (two-factor verified for admins)."""
    # heavy optional dependency: loaded only when this runs
    from django.test import Client

    client = Client()
    client.force_login(user)
    if user.requires_two_factor:
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="bench", defaults={"confirmed": True}
        )
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def page_case(
    name: str,
    *,
    user: Callable[[], object],
    url: Callable[[], str],
    target_ms: float | None = None,
    description: str = "",
    htmx: bool = False,
) -> BenchCase:
    """A case that GETs a page as a signed-in user and requires a 200."""

    def prepare():
        client = signed_in_client(user())
        target = url()
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

        def run():
            response = client.get(target, **headers)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: GET {target} answered {response.status_code}")
            return response

        return run

    return BenchCase(name=name, prepare=prepare, target_ms=target_ms, description=description)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def run_case(case: BenchCase, runs: int, warmup: int = 3) -> BenchResult:
    fn = case.prepare()
    for _ in range(warmup):
        fn()
    timings, query_counts = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - started) * 1000)
        query_counts.append(len(ctx.captured_queries))
    return BenchResult(
        name=case.name,
        runs=runs,
        p50_ms=round(statistics.median(timings), 2),
        p95_ms=round(percentile(timings, 95), 2),
        max_ms=round(max(timings), 2),
        queries=max(query_counts),
        target_ms=case.target_ms,
    )


def write_results(
    results: list[BenchResult], scale: dict, output: Path, conditions: dict | None = None
) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scale": scale,
        "conditions": conditions or {},
        "results": [{**r.__dict__, "passed": r.passed} for r in results],
    }
    output.write_text(json.dumps(payload, indent=2))
    return output


def api_case(
    name: str,
    *,
    user: Callable[[], object],
    url: Callable[[], str],
    target_ms: float | None = None,
    description: str = "",
    accept: str = "application/json",
) -> BenchCase:
    """A case that GETs an API (REST or FHIR) URL with a personal API token and requires a
    200 (the token is made once, in ``prepare``)."""

    def prepare():
        # heavy optional dependency: loaded only when this runs
        from django.test import Client

        _, secret = api_token_create(actor=user(), name=f"bench {name}"[:80], scope="read")
        client = Client(HTTP_AUTHORIZATION=f"Token {secret}", HTTP_ACCEPT=accept)
        target = url()

        def run():
            response = client.get(target)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: GET {target} answered {response.status_code}")
            return response

        return run

    return BenchCase(name=name, prepare=prepare, target_ms=target_ms, description=description)
