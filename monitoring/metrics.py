"""Request metrics kept cheaply: counted in process, flushed to the cache every few seconds.

Each web process adds its requests to per-minute counters in memory (count, errors and a
latency histogram) and, at most every ``FLUSH_SECONDS``, adds them to shared per-minute
cache keys with ``incr``. No request writes to the database, and a cache outage only loses
metrics. p50/p95 come from the histogram (upper bound of the bucket holding the quantile).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from django.core.cache import cache

BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
FLUSH_SECONDS = 10
KEY_TTL = 3 * 3600
_FIELDS = 2 + len(BUCKETS_MS)  # count, errors, one per bucket (the last also takes slower)

_lock = threading.Lock()
_pending: dict[int, list[int]] = defaultdict(lambda: [0] * _FIELDS)
_last_flush = time.monotonic()


def _key(minute: int, index: int) -> str:
    return f"monitoring:req:{minute}:{index}"


def record(duration_ms: float, *, error: bool, now: float | None = None) -> None:
    global _last_flush
    minute = int((now or time.time()) // 60)
    bucket = next(
        (i for i, limit in enumerate(BUCKETS_MS) if duration_ms <= limit), len(BUCKETS_MS) - 1
    )
    with _lock:
        row = _pending[minute]
        row[0] += 1
        row[1] += 1 if error else 0
        row[2 + bucket] += 1
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due:
        flush()


def flush() -> None:
    """Add this process's counts to the shared cache counters (never raises)."""
    global _last_flush, _pending
    with _lock:
        data, _pending = _pending, defaultdict(lambda: [0] * _FIELDS)
        _last_flush = time.monotonic()
    try:
        for minute, row in data.items():
            for index, value in enumerate(row):
                if value:
                    key = _key(minute, index)
                    cache.add(key, 0, KEY_TTL)
                    cache.incr(key, value)
    except Exception:  # a cache outage loses metrics, never a request
        return


@dataclass
class Minute:
    minute: int
    count: int
    errors: int
    p50: float | None
    p95: float | None
    hist: list[int]


def _quantile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    target, seen = q * total, 0
    for limit, n in zip(BUCKETS_MS, hist, strict=True):
        seen += n
        if seen >= target:
            return float(limit)
    return float(BUCKETS_MS[-1])


def last_hour(now: float | None = None) -> list[Minute]:
    """One entry per minute for the last 60 minutes, oldest first."""
    flush()
    current = int((now or time.time()) // 60)
    minutes = list(range(current - 59, current + 1))
    keys = [_key(m, i) for m in minutes for i in range(_FIELDS)]
    values = cache.get_many(keys)
    result = []
    for m in minutes:
        row = [int(values.get(_key(m, i), 0) or 0) for i in range(_FIELDS)]
        hist = row[2:]
        result.append(Minute(m, row[0], row[1], _quantile(hist, 0.5), _quantile(hist, 0.95), hist))
    return result


def hour_summary(series: list[Minute]) -> dict:
    total = sum(m.count for m in series)
    errors = sum(m.errors for m in series)
    hist = [sum(column) for column in zip(*(m.hist for m in series), strict=True)] if series else []
    return {
        "requests": total,
        "errors": errors,
        "error_rate": (errors / total * 100) if total else 0.0,
        "per_minute": total / 60,
        "p50": _quantile(hist, 0.5) if hist else None,
        "p95": _quantile(hist, 0.95) if hist else None,
    }


class RequestMetricsMiddleware:
    """Times every request (static files are answered before it by WhiteNoise)."""

    SKIP = ("/healthz", "/readyz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.SKIP):
            return self.get_response(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            record((time.perf_counter() - started) * 1000, error=True)
            raise
        record((time.perf_counter() - started) * 1000, error=response.status_code >= 500)
        return response
