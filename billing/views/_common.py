"""Helpers shared by the billing views."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse

PAGE_SIZE = 25


def page_of(request, qs, *, count: int | None = None):
    """A page of ``qs``; pass ``count`` when it is already known (no second ``COUNT(*)``)."""
    paginator = Paginator(qs, PAGE_SIZE)
    if count is not None:
        paginator.count = count  # a cached_property: set, it is never queried
    return paginator.get_page(request.GET.get("page"))


def form_errors(form, exc: ValidationError) -> None:
    """Put a service's ``ValidationError`` on ``form`` (field errors where they belong)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def pdf_response(content: bytes, filename: str, *, inline: bool = True) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def query_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
