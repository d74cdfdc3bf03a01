"""The HTTP mode of ``make bench`` (``make bench ARGS="--http"``): real requests, real server.

What it does, in one run:

1. starts two gunicorns with the same command line (2 sync workers): the clinic with the
   production settings (``DJANGO_ENV=production``, a throwaway ``SECRET_KEY``, ``DEBUG``
   off, an SMTP email backend, collected static files) on the bench database, and the
   one-view "hello" project (``uscpis.bench_hello``), the floor every page is compared with;
2. signs in as each role through the real login form (CSRF token from the form, the
   password, and for administrators a TOTP code computed from the bench admin's device);
3. runs ``wrk`` per page (installed from Debian's packages when missing) with a Lua script
   that reports p50/p95/p99 and counts non-2xx answers, the hello floor first, last and
   for a short window after every page (``--hello-window``);
4. prints req/s, latency percentiles, non-2xx count, bytes per response and the cost in
   hello requests (hello req/s ÷ page req/s, against the hello windows just before and
   after the page) per page, with the load average, writes
   ``var/bench/http-latest.json`` and lists the pages over their target at the end.

Pages come from each app's ``bench.py`` (``HTTP_PAGES: list[HttpPage]``) plus the login
page and the "shell" (a signed-in page with no content, ``uscpis.bench_urls``). Speed is
reported here, never asserted in tests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection

HELLO = "hello (bare Django)"
DEFAULT_TARGET = 15.0  # hello requests per page (issue 15)
SHELL_TARGET = 3.0
BENCH_TOTP_NAME = "bench-http"
BENCH_TOKEN_NAME = "bench-http"
FORWARDED = {"X-Forwarded-Proto": "https"}  # as behind the TLS-terminating proxy

LUA_REPORT = r"""
-- Reports p50/p95/p99 (wrk --latency has no p95) and counts non-2xx answers per thread.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, bad,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class HttpPage:
    """One page for the HTTP bench. ``user`` is the email of a seeded user (``None``:
    anonymous); ``url`` is resolved in-process before the servers start."""

    name: str
    url: str | Callable[[], str]
    user: str | None = None
    htmx: bool = False
    target: float = DEFAULT_TARGET  # cost in hello requests
    # API pages: sign with a personal API token (``Authorization: Token ...``, made for the
    # user at setup) instead of the login form's session cookie, as an integration does.
    token: bool = False
    accept: str | None = None  # e.g. "application/fhir+json"

    def resolve(self) -> str:
        return self.url() if callable(self.url) else self.url


@dataclass
class HttpResult:
    name: str
    url: str
    user: str | None
    requests: int
    req_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    bytes_per_response: int
    probe_status: int
    load_1m: float
    target: float | None
    cost: float | None = None
    cpu_ms_per_request: float | None = None  # gunicorn workers + PostgreSQL backends
    cpu_cost: float | None = None  # CPU per request in hello requests' CPU
    extra: dict = field(default_factory=dict)

    @property
    def over_target(self) -> bool:
        return self.target is not None and self.cost is not None and self.cost > self.target

    @property
    def over_cpu_target(self) -> bool:
        return self.target is not None and self.cpu_cost is not None and self.cpu_cost > self.target


CORE_PAGES = [
    HttpPage("login page (anonymous)", "/accounts/login/"),
    HttpPage(
        "shell (signed-in, no content)",
        "/__bench__/shell/",
        user="doctor@usc.edu.ph",
        target=SHELL_TARGET,
    ),
]


def collect_pages(modules) -> list[HttpPage]:
    pages = list(CORE_PAGES)
    for module in modules:
        pages.extend(getattr(module, "HTTP_PAGES", []))
    return pages


# --- Tools -----------------------------------------------------------------------------------


def ensure_wrk(stdout) -> str:
    """Path of ``wrk``; installs Debian's package when it is missing and apt is usable."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        stdout.write("[http] installing Debian's wrk...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is missing and could not be installed (apt-get install wrk)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _newest_mtime(folders: list[Path]) -> float:
    newest = 0.0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def server_env(static_root: Path) -> dict[str, str]:
    """The production environment the bench's gunicorn runs with."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "uscpis.bench_settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "https://127.0.0.1",
        "EMAIL_BACKEND": "smtp",
        "EMAIL_HOST": "127.0.0.1",
        "STATIC_ROOT": str(static_root),
        "USCPIS_DB_NAME": db["NAME"],
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("USCPIS_TESTING", None)
    # One token sends thousands of requests a minute here; the throttle still runs (same code,
    # same cache round trips) but with a per-second window it never answers 429.
    env["API_RATE_USER"] = "1000000/s"
    if settings.DATABASE_URL:
        env["DATABASE_URL"] = settings.DATABASE_URL
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


def collect_static(env: dict[str, str], static_root: Path, stdout) -> None:
    """``collectstatic`` for the manifest storage production uses; skipped when current."""
    manifest = static_root / "staticfiles.json"
    sources = [Path(settings.BASE_DIR) / "static"] + [
        p for p in Path(settings.BASE_DIR).glob("*/static") if p.is_dir()
    ]
    if manifest.exists() and manifest.stat().st_mtime >= _newest_mtime(sources):
        return
    stdout.write("[http] collectstatic for the production static storage...")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
    )


class Server:
    """A gunicorn with the bench's command line: 2 sync workers, no access log."""

    def __init__(self, app: str, env: dict[str, str], workers: int, log: Path):
        self.port = _free_port()
        self.log = log
        self._handle = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited; see {self.log}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                status, _, _ = fetch(self.port, "GET", path)
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on port {self.port}; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._handle.close()


# --- CPU accounting ---------------------------------------------------------------------------
# Requests per second depend on how much of the machine the server gets; on a shared machine
# other work steals CPU from it. The CPU time the gunicorn workers and their PostgreSQL
# backends spend per request does not, so it is reported beside req/s (Redis is left out).

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _db_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_snapshot(server: Server | None) -> dict[int, float]:
    """CPU seconds used so far by the server's workers and the database's client backends."""
    if server is None or not Path("/proc/self/stat").exists():
        return {}
    pids = _children(server.process.pid) + _db_backends()
    return {pid: _cpu_seconds(pid) for pid in pids}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


# --- Signing in ------------------------------------------------------------------------------


def fetch(
    port: int,
    method: str,
    path: str,
    *,
    cookies: dict | None = None,
    form: dict | None = None,
    headers: dict | None = None,
):
    """One request; returns (status, headers as a list, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        head = {**FORWARDED, **(headers or {})}
        if cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            head["Content-Type"] = "application/x-www-form-urlencoded"
            origin = f"https://127.0.0.1:{port}"
            head.update({"Origin": origin, "Referer": origin + path})
        conn.request(method, path, body=body, headers=head)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def _take_cookies(cookies: dict, headers) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar = SimpleCookie()
            jar.load(value)
            for key, morsel in jar.items():
                cookies[key] = morsel.value


def _csrf_token(body: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not match:
        raise RuntimeError("no CSRF token in the form")
    return match.group(1).decode()


def _location(headers) -> str:
    return next((v for k, v in headers if k.lower() == "location"), "")


def totp_for(email: str) -> Callable[[], str]:
    """A confirmed TOTP device for the bench user and a function computing its current code
    (django-otp's own algorithm). The device's last-used step is reset so reruns within the
    same 30 seconds still sign in."""
    # imported when called: this module loads before Django's settings and app registry
    from django_otp.oath import TOTP

    # imported when called: this module loads before Django's settings and app registry
    from django_otp.plugins.otp_totp.models import TOTPDevice

    # imported when called: this module loads before Django's settings and app registry
    from accounts.models import User

    user = User.objects.get(email=email)
    device = TOTPDevice.objects.filter(user=user, name=BENCH_TOTP_NAME).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=BENCH_TOTP_NAME, confirmed=True)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, confirmed=True)

    def code() -> str:
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()
        return f"{totp.token():0{device.digits}d}"

    return code


def sign_in(port: int, email: str, password: str, totp: Callable[[], str] | None) -> dict:
    """Sign in through the login form (and the two-factor form); returns the cookies."""
    cookies: dict[str, str] = {}
    status, headers, body = fetch(port, "GET", "/accounts/login/")
    _take_cookies(cookies, headers)
    form = {"csrfmiddlewaretoken": _csrf_token(body), "username": email, "password": password}
    status, headers, body = fetch(port, "POST", "/accounts/login/", cookies=cookies, form=form)
    _take_cookies(cookies, headers)
    if status != 302:
        errors = re.findall(rb'class="[^"]*error[^"]*"[^>]*>([^<]+)<', body)
        raise RuntimeError(
            f"signing in as {email} answered {status}: {[e.decode() for e in errors]}"
        )
    if totp is not None:
        status, headers, body = fetch(port, "GET", "/accounts/2fa/verify/", cookies=cookies)
        _take_cookies(cookies, headers)
        form = {"csrfmiddlewaretoken": _csrf_token(body), "token": totp()}
        status, headers, body = fetch(
            port, "POST", "/accounts/2fa/verify/", cookies=cookies, form=form
        )
        _take_cookies(cookies, headers)
        if status != 302:
            raise RuntimeError(f"two-factor verification for {email} answered {status}")
    status, headers, _ = fetch(port, "GET", "/", cookies=cookies)
    if status != 200:
        raise RuntimeError(f"{email} is not signed in: home answered {status} {_location(headers)}")
    return cookies


def api_token_for(email: str) -> str:
    """A fresh read-only personal API token for the bench user (knox, hashed, expiring):
    the secret the API pages send as ``Authorization: Token <secret>``."""
    # imported when called: this module loads before Django's settings and app registry
    from accounts.models import User

    # imported when called: this module loads before Django's settings and app registry
    from accounts.services import api_token_create

    user = User.objects.get(email=email)
    _, secret = api_token_create(actor=user, name=BENCH_TOKEN_NAME, scope="read", expires_in_days=1)
    return secret


def page_headers(page: HttpPage, tokens: dict[str, str]) -> dict[str, str]:
    headers = {}
    if page.token:
        headers["Authorization"] = f"Token {tokens[page.user]}"
    if page.accept:
        headers["Accept"] = page.accept
    return headers


# --- Load ------------------------------------------------------------------------------------


def run_wrk(
    wrk: str,
    script: Path,
    port: int,
    path: str,
    *,
    cookies: dict | None,
    htmx: bool,
    threads: int,
    connections: int,
    duration: str,
    extra_headers: dict | None = None,
) -> dict:
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}",
        "--timeout",
        "30s",
        "-s",
        str(script),
    ]
    headers = dict(FORWARDED)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if htmx:
        headers["HX-Request"] = "true"
    headers.update(extra_headers or {})
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report:\n{done.stdout}\n{done.stderr}")
    return json.loads(line.removeprefix("WRKJSON "))


def measure(
    name: str,
    *,
    wrk: str,
    script: Path,
    server: Server,
    path: str,
    user: str | None,
    cookies: dict | None,
    htmx: bool,
    target: float | None,
    opts: dict,
    extra_headers: dict | None = None,
) -> HttpResult:
    port = server.port
    headers = {"HX-Request": "true"} if htmx else {}
    headers.update(extra_headers or {})
    probe_status, bytes_probe = 0, 0
    for _ in range(3):  # warm the workers' caches and check the answer
        probe_status, _, body = fetch(port, "GET", path, cookies=cookies, headers=headers)
        bytes_probe = len(body)
    before = cpu_snapshot(server)
    report = run_wrk(
        wrk,
        script,
        port,
        path,
        cookies=cookies,
        htmx=htmx,
        threads=opts["threads"],
        connections=opts["connections"],
        duration=opts["duration"],
        extra_headers=extra_headers,
    )
    cpu = cpu_used(before, cpu_snapshot(server))
    seconds = report["duration_us"] / 1e6 or 1
    requests = report["requests"]
    errors = report["errors"]
    return HttpResult(
        name=name,
        url=path,
        user=user,
        requests=requests,
        req_per_s=round(requests / seconds, 1),
        p50_ms=round(report["p50_us"] / 1000, 2),
        p95_ms=round(report["p95_us"] / 1000, 2),
        p99_ms=round(report["p99_us"] / 1000, 2),
        non_2xx=report["non2xx"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        bytes_per_response=round(report["bytes"] / requests) if requests else 0,
        probe_status=probe_status,
        load_1m=round(os.getloadavg()[0], 2),
        target=target,
        cpu_ms_per_request=round(cpu * 1000 / requests, 3) if requests else None,
        extra={"body_bytes": bytes_probe},
    )


def run(pages: list[HttpPage], *, opts: dict, stdout, output: Path, password: str) -> dict:
    """Run the HTTP bench; returns the JSON payload it also writes to ``output``."""
    wrk = ensure_wrk(stdout)
    var = Path(settings.VAR_DIR) / "bench"
    var.mkdir(parents=True, exist_ok=True)
    script = var / "wrk-report.lua"
    script.write_text(LUA_REPORT)
    static_root = var / "static"
    env = server_env(static_root)
    collect_static(env, static_root, stdout)
    _seconds(opts.get("hello_window") or "")  # a bad duration fails before anything starts
    if opts.get("only"):
        pages = [p for p in pages if opts["only"] in p.name]
    resolved = [(page, page.resolve()) for page in pages]

    # imported when called: this module loads before Django's settings and app registry
    from accounts.models import User

    totps = {}
    for email in sorted({p.user for p in pages if p.user and not p.token}):
        if User.objects.get(email=email).requires_two_factor:
            totps[email] = totp_for(email)
    tokens = {email: api_token_for(email) for email in sorted({p.user for p in pages if p.token})}

    load_before = os.getloadavg()
    stdout.write(
        f"[http] {os.cpu_count()} CPUs, load average {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}; wrk -t{opts['threads']} -c{opts['connections']} -d{opts['duration']}, "
        f"gunicorn {opts['workers']} sync workers"
    )
    log = var / "http-gunicorn.log"
    hello_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    hello = Server("uscpis.bench_hello:application", hello_env, opts["workers"], log)
    app = Server("uscpis.wsgi:application", env, opts["workers"], log)
    results: list[HttpResult] = []
    windows: list[HttpResult] = []  # hello runs between pages (``hello_window``)
    try:
        hello.wait_ready("/")
        app.wait_ready("/accounts/login/")
        sessions = {
            email: sign_in(app.port, email, password, totps.get(email))
            for email in sorted({p.user for p in pages if p.user and not p.token})
        }
        stdout.write(
            f"[http] signed in through the login form as {', '.join(sessions) or 'nobody'}"
        )
        common = {"wrk": wrk, "script": script, "opts": opts}

        def measure_hello(name: str, duration: str) -> HttpResult:
            return measure(
                name,
                server=hello,
                path="/",
                user=None,
                cookies=None,
                htmx=False,
                target=None,
                **{**common, "opts": {**opts, "duration": duration}},
            )

        hello_first = measure_hello(HELLO, opts["duration"])
        _print_row(stdout, hello_first, header=True)
        window = opts.get("hello_window") or ""
        before = hello_first
        for page, path in resolved:
            result = measure(
                page.name,
                server=app,
                path=path,
                user=page.user,
                cookies=None if page.token else sessions.get(page.user),
                htmx=page.htmx,
                target=page.target,
                extra_headers=page_headers(page, tokens),
                **common,
            )
            results.append(result)
            _print_row(stdout, result)
            if _seconds(window) > 0:
                # The floor right after this page: with the one right before it, what a bare
                # Django request cost while the page was measured.
                after = measure_hello(HELLO + ", beside", window)
                windows.append(after)
                result.extra["hello_beside"] = _floor([before, after])
                before = after
        hello_last = measure_hello(HELLO + ", again", opts["duration"])
        _print_row(stdout, hello_last)
    finally:
        app.stop()
        hello.stop()
    # Each page's cost is against the hello floor measured just before and just after it
    # (``hello_window``): a shared machine's speed wanders within a run (hello 8,572 req/s
    # first and 7,173 last in one run), and a floor from the run's ends would price a page
    # measured in a slow stretch with the fast one's. Without windows, against the mean of
    # the first and last hello runs.
    overall = _floor([hello_first, *windows, hello_last])
    floor, cpu_floor = overall["req_per_s"], overall["cpu_ms_per_request"]
    for result in results:
        near = result.extra.get("hello_beside") or _floor([hello_first, hello_last])
        page_floor, page_cpu_floor = near["req_per_s"], near["cpu_ms_per_request"]
        result.cost = round(page_floor / result.req_per_s, 1) if result.req_per_s else None
        if page_cpu_floor and result.cpu_ms_per_request is not None:
            result.cpu_cost = round(result.cpu_ms_per_request / page_cpu_floor, 1)
    load_after = os.getloadavg()
    over = [
        r
        for r in results
        if r.over_target
        or r.over_cpu_target
        or r.non_2xx
        or r.socket_errors
        or r.probe_status != 200
    ]
    spread = ""
    if windows:
        rates = [h.req_per_s for h in windows]
        spread = (
            f"; {len(windows)} windows beside the pages, {min(rates):.0f}-{max(rates):.0f} req/s "
            "(each page priced against the two around it)"
        )
    stdout.write(
        f"[http] hello floor {floor:.0f} req/s (first {hello_first.req_per_s:.0f}, last "
        f"{hello_last.req_per_s:.0f}{spread}); hello CPU {cpu_floor or 0:.3f} ms per request; "
        f"load average after {load_after[0]:.2f}"
    )
    stdout.write("")
    stdout.write(_table(results))
    if over:
        stdout.write(
            "[http] pages over their target (cost in hello requests, by req/s or by CPU) or with errors:"
        )
        for r in over:
            problem = f"cost {r.cost} > {r.target:g}" if r.over_target else ""
            if r.over_cpu_target:
                problem += f" CPU cost {r.cpu_cost} > {r.target:g}"
            if r.non_2xx or r.probe_status != 200:
                problem += f" {r.non_2xx} non-2xx (probe {r.probe_status})"
            if r.socket_errors:
                problem += f" {r.socket_errors} socket errors"
            stdout.write(f"  - {r.name}: {problem.strip()}")
    else:
        stdout.write("[http] every page within its target")
    payload = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": connection.settings_dict["NAME"],
        "conditions": {
            "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "wrk": f"-t{opts['threads']} -c{opts['connections']} -d{opts['duration']}",
            "gunicorn_workers": opts["workers"],
        },
        "hello": {
            "first": asdict(hello_first),
            "last": asdict(hello_last),
            "floor_req_per_s": round(floor, 1),
            "cpu_ms_per_request": round(cpu_floor, 3) if cpu_floor else None,
            "window": window,
            "windows": [
                {"req_per_s": h.req_per_s, "cpu_ms_per_request": h.cpu_ms_per_request}
                for h in windows
            ],
        },
        "results": [
            {**asdict(r), "over_target": r.over_target, "over_cpu_target": r.over_cpu_target}
            for r in results
        ],
        "over_target": [r.name for r in over],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=2))
    stdout.write(f"[http] results written to {output}")
    return payload


def _seconds(duration: str) -> float:
    """wrk's ``-d`` duration ("5s", "2m", "1h"; a bare number is seconds) in seconds."""
    text = (duration or "").strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text) if text else 0.0
    except ValueError as exc:
        raise ValueError(f"not a duration: {duration!r} (say 5s, 2m)") from exc


def _floor(runs: list[HttpResult]) -> dict:
    """The hello floor of these hello runs: their mean req/s and CPU per request."""
    rates = [h.req_per_s for h in runs if h.req_per_s]
    cpus = [h.cpu_ms_per_request for h in runs if h.cpu_ms_per_request]
    return {
        "req_per_s": round(sum(rates) / len(rates), 1) if rates else 0.0,
        "cpu_ms_per_request": round(sum(cpus) / len(cpus), 3) if cpus else None,
    }


def _print_row(stdout, r: HttpResult, header: bool = False) -> None:
    if header:
        stdout.write(
            f"{'page':<44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'non-2xx':>7} {'bytes':>7} {'cpu ms':>7} {'load':>5}"
        )
    cpu = f"{r.cpu_ms_per_request:7.2f}" if r.cpu_ms_per_request is not None else f"{'-':>7}"
    stdout.write(
        f"{r.name[:44]:<44} {r.req_per_s:8.1f} {r.p50_ms:8.2f} {r.p95_ms:8.2f} {r.p99_ms:8.2f} "
        f"{r.non_2xx:7d} {r.bytes_per_response:7d} {cpu} {r.load_1m:5.2f}"
    )


def _table(results: list[HttpResult]) -> str:
    """The results as a Markdown table (README-ready)."""
    lines = [
        "| page | req/s | p50 ms | p95 ms | p99 ms | non-2xx | bytes/resp | cost (hello req) "
        "| CPU ms/req | CPU cost (hello req) | hello beside (req/s) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        mark = " ⚠" if r.over_target else ""
        cpu_mark = " ⚠" if r.over_cpu_target else ""
        near = r.extra.get("hello_beside")
        hello = f"{near['req_per_s']:,.0f}" if near else "-"
        lines.append(
            f"| {r.name} | {r.req_per_s:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.non_2xx} | {r.bytes_per_response:,} | {r.cost}{mark} | {r.cpu_ms_per_request} | "
            f"{r.cpu_cost}{cpu_mark} | {hello} | ≤ {r.target:g} |"
        )
    return "\n".join(lines)
