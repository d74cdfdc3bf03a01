"""seed_demo is idempotent across every app; the benchmark harness runs every app's cases."""

from __future__ import annotations

import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command

from uscpis.registry import domain_apps

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in domain_apps() and model._meta.label != "accounts.AuditEvent"
    }


def _assert_receivables_have_a_history():
    """The demo invoices are issued on their visit days, so the financial dashboard's
    receivables ageing trend climbs over weeks instead of stepping up on one day."""
    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    from analytics.models import ReceivableFact
    from billing.models import Invoice

    issue_days = (
        Invoice.objects.exclude(issued_at=None)
        .annotate(day=TruncDate("issued_at"))
        .values("day")
        .distinct()
        .count()
    )
    assert issue_days >= 10
    owed = dict(
        ReceivableFact.objects.values_list("day").annotate(total=Sum("amount")).order_by("day")
    )
    assert len({total for total in owed.values() if total}) >= 10
    assert {"0-30", "31-60"} <= set(ReceivableFact.objects.values_list("bucket", flat=True))


def test_seed_demo_creates_every_role_and_is_idempotent():
    from accounts.models import User
    from accounts.roles import Role

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert set(User.objects.values_list("role", flat=True)) >= set(Role.values)
    _assert_receivables_have_a_history()
    first = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == first
    assert "student@usc.edu.ph" in out.getvalue()


def test_bench_runs_every_case_at_a_tiny_scale(tmp_path):
    output = tmp_path / "bench.json"
    call_command(
        "bench",
        "--force",
        "--report-only",
        "--patients",
        "40",
        "--appointments",
        "60",
        "--items",
        "12",
        "--movements",
        "120",
        "--audit-events",
        "300",
        "--invoices",
        "20",
        "--visits",
        "20",
        "--requests",
        "2",
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    data = json.loads(output.read_text())
    names = [r["name"] for r in data["results"]]
    assert names, "no benchmark cases registered"
    # Every case reads the database, except the one API page answered whole from caches:
    # the free slots (appointments.schedule_cache), its token from the process's mirror
    # (accounts.token_cache, uscpis.cache_mirror).
    from_caches = {"api: free slots, provider-week"}
    for result in data["results"]:
        assert result["runs"] == 2 and result["p95_ms"] >= result["p50_ms"] > 0
        assert result["queries"] >= (0 if result["name"] in from_caches else 1), result["name"]
    # The machine's state is recorded with the timings, so a busy run can be told apart.
    assert data["conditions"]["cpus"] >= 1
    assert data["conditions"]["load_before"] >= 0 and data["conditions"]["load_after"] >= 0
