"""The HTTP mode of ``make bench`` runs end to end at a tiny scale: real gunicorn with the
production settings, sign-in through the login form (two-factor for the administrator), wrk
per page, the hello floor, the results file. Only the shape of the output is checked:
speed is never asserted in tests."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from django.core.management import call_command

from uscpis import benchhttp
from uscpis.registry import app_modules

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the gunicorn workers must see the data
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
    ),
]


def test_http_bench_measures_every_page_beside_the_hello_floor(tmp_path, settings):
    # The seeded passwords must be checkable by the production server (tests hash with MD5).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    output = tmp_path / "http.json"
    out = io.StringIO()
    call_command(
        "bench",
        "--http",
        "--force",
        "--report-only",
        "--patients",
        "30",
        "--appointments",
        "60",
        "--items",
        "6",
        "--movements",
        "40",
        "--audit-events",
        "200",
        "--invoices",
        "10",
        "--visits",
        "10",
        "--duration",
        "1s",
        "--hello-window",
        "1s",
        "--connections",
        "2",
        "--threads",
        "1",
        "--http-output",
        str(output),
        stdout=out,
    )
    data = json.loads(output.read_text())
    pages = benchhttp.collect_pages(app_modules("bench"))
    names = [r["name"] for r in data["results"]]
    assert names == [p.name for p in pages]
    # Every issue-15 page is there, extensible through the apps' bench.py.
    for expected in (
        "shell (signed-in, no content)",
        "login page (anonymous)",
        "doctor's home dashboard",
        "chart, patient with 700 visits",
        "monitoring page",
        "free slots (booking page)",
        "stock overview",
    ):
        assert expected in names
    for result in data["results"]:
        # Signed in for real (the admin through two-factor): every page answers 200.
        assert result["probe_status"] == 200, result
        assert result["non_2xx"] == 0 and result["socket_errors"] == 0, result
        assert result["requests"] > 0 and result["req_per_s"] > 0
        assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
        assert result["bytes_per_response"] > 0
        assert result["cost"] > 0
        # Priced against the hello floor measured just before and just after the page.
        beside = result["extra"]["hello_beside"]
        assert beside["req_per_s"] > 0 and beside["cpu_ms_per_request"] > 0
        assert result["cost"] == round(beside["req_per_s"] / result["req_per_s"], 1)
        assert result["cpu_cost"] == round(
            result["cpu_ms_per_request"] / beside["cpu_ms_per_request"], 1
        )
    shell = next(r for r in data["results"] if r["name"].startswith("shell"))
    assert shell["target"] == benchhttp.SHELL_TARGET
    assert data["hello"]["floor_req_per_s"] > 0
    # One hello window after every page; each page's floor is the mean of its neighbours.
    windows = data["hello"]["windows"]
    assert data["hello"]["window"] == "1s" and len(windows) == len(pages)
    first = data["hello"]["first"]["req_per_s"]
    neighbours = [first] + [w["req_per_s"] for w in windows]
    for i, result in enumerate(data["results"]):
        expected = round((neighbours[i] + neighbours[i + 1]) / 2, 1)
        assert result["extra"]["hello_beside"]["req_per_s"] == expected
    assert len(data["conditions"]["load_before"]) == 3
    text = out.getvalue()
    assert (
        "| page | req/s | p50 ms | p95 ms | p99 ms | non-2xx | bytes/resp | cost (hello req) |"
        in text
    )
    assert "signed in through the login form as" in text and "admin@usc.edu.ph" in text
    assert f"{len(pages)} windows beside the pages" in text
    assert isinstance(data["over_target"], list)


def test_the_admin_totp_code_is_accepted_by_django_otp(admin_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    code = benchhttp.totp_for(admin_user.email)
    device = TOTPDevice.objects.get(user=admin_user, name=benchhttp.BENCH_TOTP_NAME)
    assert device.verify_token(code())


def test_durations_and_floors():
    assert benchhttp._seconds("5s") == 5 and benchhttp._seconds("2m") == 120
    assert benchhttp._seconds("0") == 0 and benchhttp._seconds("") == 0
    assert benchhttp._seconds("1.5") == 1.5
    with pytest.raises(ValueError, match="not a duration"):
        benchhttp._seconds("soon")

    def run(rate, cpu):
        return benchhttp.HttpResult(
            name="hello", url="/", user=None, requests=1, req_per_s=rate, p50_ms=1, p95_ms=1,
            p99_ms=1, non_2xx=0, socket_errors=0, bytes_per_response=1, probe_status=200,
            load_1m=0, target=None, cpu_ms_per_request=cpu,
        )  # fmt: skip

    assert benchhttp._floor([run(8000, 0.2), run(6000, 0.3)]) == {
        "req_per_s": 7000.0,
        "cpu_ms_per_request": 0.25,
    }
    assert benchhttp._floor([run(8000, None)]) == {"req_per_s": 8000.0, "cpu_ms_per_request": None}
