"""Public endpoints: signed email links and calendar feeds (no sign-in)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import AuditAction
from accounts.permissions import public
from appointments import selectors
from appointments.ical import feed_ics
from appointments.models import (
    AppointmentStatus,
    SignedLinkUse,
)
from appointments.services import links
from uscpis.http import Request, render_page


@public
@require_http_methods(["GET", "POST"])
def email_link(request: Request, token: str):
    """Confirm or cancel without signing in. GET shows a button (mail scanners follow GETs);
    POST acts, once."""
    try:
        appointment, action, jti = selectors.link_read(
            token, purpose=AuditAction.READ if request.method == "GET" else None
        )
    except ValidationError as exc:
        return render_page(
            request,
            "appointments/email_link.html",
            {"error": " ".join(exc.messages), "bare_layout": True},
            status=400,
        )
    done = False
    error = ""
    if request.method == "GET":
        # A used link shows what happened, not a button that can only fail.
        if SignedLinkUse.objects.filter(jti=jti).exists():
            error = "This link has already been used."
        elif appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED) or (
            appointment.start <= timezone.now()
        ):
            error = "This appointment can no longer be changed from this link."
        elif action == "confirm" and appointment.status == AppointmentStatus.CONFIRMED:
            done = True
    if request.method == "POST":
        try:
            appointment = links.link_use(token=token)
            done = True
        except ValidationError as exc:
            error = " ".join(exc.messages)
    return render_page(
        request,
        "appointments/email_link.html",
        {
            "appointment": appointment,
            "action": action,
            "done": done,
            "error": error,
            "bare_layout": True,
        },
        status=400 if error and request.method == "POST" else 200,
    )


@public
@require_GET
def feed(request: Request, token: str):
    """A subscribable iCalendar feed: a provider's or a patient's appointments (secret URL)."""
    feed = selectors.calendar_feed(token)
    body = feed_ics(feed.appointments, name=feed.name, audience=feed.audience)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response
