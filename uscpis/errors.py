"""Friendly error pages (rendered without queries so they work when the database is down)."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader


def bad_request(request, exception=None):
    return render(request, "errors/400.html", status=400)


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else ""
    return render(request, "errors/403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    # No context processors: the failure may be in the database or a context processor.
    template = loader.get_template("errors/500.html")
    return HttpResponseServerError(
        template.render({"request_id": getattr(request, "request_id", "")})
    )
