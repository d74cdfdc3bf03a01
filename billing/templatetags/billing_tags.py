"""Billing's template helpers."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()

TONES = {"paid": "good", "void": "bad", "denied": "bad", "draft": "info", "written_off": "info"}


@register.simple_tag
def status_badge(status: str, label: str) -> str:
    """The coloured badge of an invoice's or a claim's status (a tag, not an ``include``:
    list pages show one per row)."""
    return format_html('<span class="badge {}">{}</span>', TONES.get(status, "warn"), label)
