"""Branded email: every message has a text part and an HTML part.

Templates live in ``templates/emails/<name>.txt`` and ``<name>.html`` and extend the branded
base. Sending goes through the configured backend (django-ses in production).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated_email(
    *,
    to: Sequence[str],
    subject: str,
    template: str,
    context: dict | None = None,
    attachments: Iterable[tuple[str, bytes | str, str]] = (),
    reply_to: Sequence[str] | None = None,
) -> int:
    """Render ``emails/<template>.txt|.html`` and send it; returns the number sent (0 or 1).

    Raises whatever the email backend raises, so a Celery task can retry.
    """
    ctx = {
        "clinic_name": settings.CLINIC_NAME,
        "site_url": settings.SITE_URL,
        "subject": subject,
        **(context or {}),
    }
    text_body = render_to_string(f"emails/{template}.txt", ctx)
    html_body = render_to_string(f"emails/{template}.html", ctx)
    message = EmailMultiAlternatives(
        subject=f"[USC-PIS] {subject}",
        body=text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        reply_to=list(reply_to) if reply_to else None,
    )
    message.attach_alternative(html_body, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    return message.send()
