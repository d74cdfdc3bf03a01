"""Helpers shared by the analytics views: filters, tabs, CSV/PDF export of a page, and the
rendered-page cache (``cached_page``)."""

from __future__ import annotations

import hashlib
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.context import make_context
from django.template.loader import get_template, render_to_string
from django.template.loader_tags import ExtendsNode
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import perms_for_role, user_has_perm
from analytics.charts import Chart
from analytics.forms import FilterForm
from analytics.pdf import dashboard_pdf
from analytics.selectors import dashboards
from analytics.selectors.common import as_of
from analytics.services.generation import rollup_generation
from uscpis.csvexport import csv_download
from uscpis.http import render_page

TABS = [
    ("Overview", "analytics:overview", "analytics.view"),
    ("Visits", "analytics:visits", "analytics.view"),
    ("Diagnoses", "analytics:diagnoses", "analytics.view"),
    ("Productivity", "analytics:productivity", "analytics.view_productivity"),
    ("Inventory", "analytics:inventory", "analytics.view"),
    ("Financial", "analytics:financial", "analytics.view_financial"),
    ("Surveillance", "analytics:surveillance", "analytics.view"),
    ("Forecasts", "analytics:forecasts", "analytics.view"),
    ("Data quality", "analytics:quality", "analytics.view"),
]


def tabs(request, active: str) -> list[dict]:
    return [
        {"label": label, "url": reverse(name), "active": name == active}
        for label, name, perm in TABS
        if user_has_perm(request.user, perm)
    ]


def filter_form(request, *, default_days: int = 84, show_provider: bool = True):
    form = FilterForm(
        request.GET or None,
        choices=dashboards.filter_choices(),
        default_days=default_days,
        show_provider=show_provider,
    )
    return form, form.filters()


def query_without_export(request) -> str:
    query = request.GET.copy()
    for key in ("export", "chart"):
        query.pop(key, None)
    return query.urlencode()


def respond(
    request,
    *,
    template: str,
    active: str,
    title: str,
    subtitle: str,
    charts: list[Chart],
    context: dict,
    kpis=(),
    notes=(),
):
    """The page, or one chart's CSV (``?export=csv&chart=<id>``), or the page as a PDF
    (``?export=pdf``). Exports are audited."""
    export = request.GET.get("export")
    if export == "csv":
        chart = next((c for c in charts if c.id == request.GET.get("chart")), None)
        if chart is None:
            raise Http404("No such chart on this page.")
        audit_record(
            action=AuditAction.EXPORT,
            object_type="analytics.dashboard",
            object_id=chart.id,
            request=request,
            detail={"format": "csv", "page": active, "query": query_without_export(request)},
        )
        return csv_download(chart.csv_name, chart.header, chart.table_rows)
    if export == "pdf":
        audit_record(
            action=AuditAction.EXPORT,
            object_type="analytics.dashboard",
            object_id=active,
            request=request,
            detail={"format": "pdf", "query": query_without_export(request)},
        )
        pdf = dashboard_pdf(title=title, subtitle=subtitle, kpis=kpis, charts=charts, notes=notes)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{active.split(":")[-1]}.pdf"'
        return response
    context = {
        "tabs": tabs(request, active),
        "title": title,
        "subtitle": subtitle,
        "charts": charts,
        "kpis": kpis,
        "query": query_without_export(request),
        "as_of": as_of(),
        **context,
    }
    parts = getattr(request, "_analytics_page_parts", None)
    if parts is None:  # not under cached_page
        return render_page(request, template, context, partial="dashboard-body")
    parts.update(_render_parts(request, template, context))
    return _assemble(request, parts)


# --- The rendered-page cache ------------------------------------------------------------------
# The dashboards read rollups, which change only when a refresh commits (that bumps the rollup
# generation, analytics/services/generation.py), plus a few live figures (today's visits),
# so a page is rendered once per (view, query string, visibility class, generation, minute)
# and served from the shared cache to every viewer of the same class in that minute. What is
# cached is the page's own blocks (title, CSS, content; or the HTMX fragment), never the shell
# around them (navigation, CSRF token, messages, notification bell), which is rendered per
# request. Exports (audited) and the drill-downs that list patients (PHI-audited) are never
# cached. ``ANALYTICS_PAGE_CACHE = False`` turns it off (the in-process bench measures cold
# renders that way).

PAGE_CACHE_SECONDS = 120
PAGE_BLOCKS = ("title", "extra_css", "extra_js", "content")


def visibility_class(user) -> str:
    """Users whose roles grant the same permissions see the same analytics pages (small
    counts suppressed or not, financial figures or not, drill-down links or not, tabs)."""
    perms = ",".join(sorted(perms_for_role(user.role)))
    return hashlib.sha256(f"{user.role == 'admin'}|{perms}".encode()).hexdigest()[:16]


def page_cache_key(request, view_name: str, args, *, own_data: bool) -> str:
    query = urlencode(sorted((k, request.GET.getlist(k)) for k in request.GET), doseq=True)
    htmx = getattr(request, "htmx", None)
    fragment = bool(htmx and not htmx.boosted)
    owner = request.user.pk if own_data else "-"
    minute = int(timezone.now().timestamp() // 60)
    # The release: a deploy with new static files (hashed names) or a new version renders afresh.
    release = f"{settings.APP_VERSION}|{getattr(staticfiles_storage, 'manifest_hash', '')}"
    raw = (
        f"{view_name}|{args!r}|{query}|{fragment}|{visibility_class(request.user)}|{owner}|"
        f"{rollup_generation()}|{minute}|{release}"
    )
    namespace = getattr(settings, "ANALYTICS_CACHE_NAMESPACE", "")
    return f"analytics:{namespace}:page:" + hashlib.sha256(raw.encode()).hexdigest()


def cached_page(own_data=False):
    """Serve the view's rendered page from the shared cache (see above). ``own_data``: a
    function of the request saying whether the page shows the viewer's own data (then the
    user id is part of the key), or a bool. Put it under the permission decorators."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if (
                request.method != "GET"
                or "export" in request.GET
                or not getattr(settings, "ANALYTICS_PAGE_CACHE", True)
            ):
                return view(request, *args, **kwargs)
            mine = own_data(request) if callable(own_data) else own_data
            try:
                key = page_cache_key(request, view.__name__, (args, kwargs), own_data=mine)
                parts = cache.get(key)
            except Exception:  # cache down: render every time
                return view(request, *args, **kwargs)
            if parts is not None:
                return _assemble(request, parts)
            request._analytics_page_parts = {}  # respond() renders into it
            response = view(request, *args, **kwargs)
            parts = request.__dict__.pop("_analytics_page_parts", None)
            if parts and response.status_code == 200:
                try:
                    cache.set(key, parts, PAGE_CACHE_SECONDS)
                except Exception:  # noqa: S110 - cache down: nothing to share
                    pass
            return response

        return wrapper

    return decorator


def _render_parts(request, template: str, context: dict) -> dict:
    """The HTMX fragment, or the page template's own blocks rendered (not base.html's)."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        return {"fragment": render_to_string(f"{template}#dashboard-body", context, request)}
    compiled = get_template(template).template
    extends = compiled.nodelist.get_nodes_by_type(ExtendsNode)[0]
    ctx = make_context(context, request)
    with ctx.bind_template(compiled):
        return {
            name: str(extends.blocks[name].render(ctx))
            for name in PAGE_BLOCKS
            if name in extends.blocks
        }


def _assemble(request, parts: dict) -> HttpResponse:
    if "fragment" in parts:
        return HttpResponse(parts["fragment"])
    blocks = {name: mark_safe(html) for name, html in parts.items()}  # noqa: S308 (rendered above)
    return render(request, "analytics/_cached_page.html", {"page_blocks": blocks})
