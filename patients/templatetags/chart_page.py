"""The chart page's patient header and action buttons rendered in Python: the markup of
``patients/_header.html`` and of the chart's action bar without ~60 template nodes per
page (each ``can`` filter, URL, ``if`` and variable). Values are shown as ``{{ }}`` shows
them (``render_value_in_context``: localised and escaped), URLs escaped as ``{% url_for %}``
escapes them; ``tests/patients/test_chart_page.py`` holds both equal to the template code.
"""

from functools import lru_cache
from html import escape

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.base import render_value_in_context
from django.template.defaultfilters import date as date_filter
from django.templatetags.static import static
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from accounts.roles import user_has_perm
from uscpis.fasturl import url_maker

register = template.Library()


def _allergy_banner(allergies, show) -> str:
    if allergies:
        spans = "".join(
            f'<span class="allergy sev-{show(a.severity)}">{show(a.substance)}'
            f"{f' — {show(a.reaction)}' if a.reaction else ''}"
            f" <em>({show(a.get_severity_display())})</em></span>"
            for a in allergies
        )
        return (
            '\n  <div id="allergy-banner" class="allergy-banner has-allergies" role="alert">\n'
            f"    <strong>Allergies:</strong>\n      {spans}\n    \n  </div>\n  "
        )
    return (
        '\n  <div id="allergy-banner" class="allergy-banner" role="status">\n'
        "    <span>No known allergies recorded.</span>\n  </div>\n  "
    )


@lru_cache(maxsize=4096)
def _day_label(day, language: str | None) -> str:
    """``day|date:"j M Y"`` in the active ``language`` (month names are translated)."""
    return date_filter(day, "j M Y")


@register.simple_tag(takes_context=True)
def patient_header(context) -> str:
    """``{% include "patients/_header.html" %}`` (whose ``header_actions`` block is empty
    when included): the patient's identity and, with ``clinical``, the allergy banner."""

    def show(value) -> str:  # a plain str needs only escaping (what {{ }} does to it)
        if type(value) is str:
            return escape(value)
        return render_value_in_context(value, context)

    p = context["patient"]
    middle = f" {show(p.middle_name[0])}." if p.middle_name else ""
    subtitle = (
        f"{show(p.id_number)} · {show(p.get_sex_display())} · {show(p.age)} y "
        f"({show(_day_label(p.birth_date, get_language()))}) · "
        f"{show(p.get_patient_type_display())}"
        f"{f' · {show(p.college)}' if p.college else ''}"
        f"{f' · Year {show(p.year_level)}' if p.year_level else ''}"
        f"{f' · Blood {show(p.blood_type)}' if p.blood_type else ''}"
    )
    banner = _allergy_banner(context.get("allergies"), show) if context.get("clinical") else ""
    return mark_safe(  # noqa: S308 - every value is escaped by show()
        "\n"
        '<section class="card patient-header" aria-label="Patient">\n'
        '  <div class="patient-id">\n'
        "    <div>\n"
        f"      <h1>{show(p.last_name)}, {show(p.first_name)}{middle}</h1>\n"
        f'      <p class="subtitle muted">{subtitle}</p>\n'
        "    </div>\n"
        "    \n"
        "  </div>\n"
        f"  {banner}\n"
        "</section>\n"
    )


@register.simple_tag(takes_context=True)
def chart_actions(context) -> str:
    """The chart's action bar: new visits, upload, demographics, the other domains' buttons
    (``chart_links``) and the export menu, each shown to the roles allowed to use it."""
    user, pk = context["user"], context["patient"].pk
    token = context.get("csrf_token")
    csrf = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(str(token))}">'
        if token and token != "NOTPROVIDED"
        else ""
    )
    parts = ['<div class="page-actions chart-actions">\n  ']
    if user_has_perm(user, "patients.write_medical_visit") or user_has_perm(
        user, "patients.write_dental_visit"
    ):
        new_visit = escape(url_maker("patients:visit_new")(pk))
    if user_has_perm(user, "patients.write_medical_visit"):
        parts.append(
            f'<form method="post" action="{new_visit}" class="inline-form">{csrf}'
            '<input type="hidden" name="kind" value="medical"><button class="button"'
            ' type="submit" hx-disabled-elt="this">New medical visit</button></form>'
        )
    parts.append("\n  ")
    if user_has_perm(user, "patients.write_dental_visit"):
        parts.append(
            f'<form method="post" action="{new_visit}" class="inline-form">{csrf}'
            '<input type="hidden" name="kind" value="dental"><button class="button"'
            ' type="submit" hx-disabled-elt="this">New dental visit</button></form>'
        )
    parts.append("\n  ")
    if user_has_perm(user, "patients.manage_documents"):
        url = escape(url_maker("patients:document_upload")(pk))
        parts.append(f'<a class="button secondary" href="{url}">Upload document</a>')
    parts.append("\n  ")
    if user_has_perm(user, "patients.register"):
        url = escape(url_maker("patients:edit")(pk))
        parts.append(f'<a class="button secondary" href="{url}">Edit demographics</a>')
    parts.append("\n  ")
    for link in context.get("chart_links") or ():
        parts.append(
            f'<a class="button secondary" href="{render_value_in_context(link.url, context)}">'
            f"{render_value_in_context(link.label, context)}</a>"
        )
    parts.append("\n  ")
    if user_has_perm(user, "patients.export_record"):
        export = url_maker("patients:export")
        parts.append(
            '<details class="export-menu"><summary class="button secondary">Export</summary>'
            '<div class="export-panel">\n'
            f'    <a href="{escape(export(pk, "pdf"))}">PDF record</a>'
            f'<a href="{escape(export(pk, "csv"))}">CSV</a>'
            f'<a href="{escape(export(pk, "fhir"))}">FHIR R4 bundle (JSON)</a></div></details>'
        )
    parts.append("\n</div>")
    return mark_safe("".join(parts))  # noqa: S308 - every value is escaped above


@lru_cache(maxsize=64)
def _static_url(path: str) -> str:
    return static(path)


@register.simple_tag
def static_url(path: str) -> str:
    """``{% static path %}``, looked up once per process (the storage's manifest is read
    once per process too)."""
    return _static_url(path)


@receiver(setting_changed)
def _forget_static(**kwargs) -> None:
    _static_url.cache_clear()
    _day_label.cache_clear()  # e.g. a changed DATE_FORMAT or language setting
