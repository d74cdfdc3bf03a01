"""Liveness and readiness probes that answer whatever the Host header says.

A container runtime or load balancer calls the process by address (``Host: 127.0.0.1:8000``),
which ``ALLOWED_HOSTS`` rightly refuses for every page (400 DisallowedHost, raised when
``CommonMiddleware`` reads the host). ``/healthz`` and ``/readyz`` reveal nothing about the
request and build no absolute URL, so they are answered here, before anything reads the
host or redirects to HTTPS. Must be the first entry of ``MIDDLEWARE``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from monitoring import views


class HealthProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path_info in ("/healthz", "/readyz"):
            probe = views.healthz if request.path_info == "/healthz" else views.readyz
            return probe(request)
        return self.get_response(request)
