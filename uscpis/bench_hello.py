"""The "hello" floor of the HTTP benchmark: a one-file Django project with one view.

``make bench ARGS="--http"`` serves it with the same gunicorn command line as the clinic
(2 sync workers) in the same run, so every page's cost can be given in hello requests: what
a bare Django request costs on this machine at that moment. No apps, no middleware, no
database; just Django's request/response cycle and URL resolver.
"""

from __future__ import annotations

import os

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-hello-throwaway-key-0123456789abcdef",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return HttpResponse("Hello, world.\n", content_type="text/plain")


urlpatterns = [path("", hello)]

application = get_wsgi_application()
