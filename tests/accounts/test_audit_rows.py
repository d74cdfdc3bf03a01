"""The audit trail's rows rendered in Python match the template code they replace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from accounts import selectors
from accounts.models import AuditEvent
from accounts.templatetags.audit_rows import audit_row

pytestmark = pytest.mark.django_db

# The row as template code before it moved to accounts/templatetags/audit_rows.py.
OLD_ROWS = '{% for e in page %}<tr>\n      <td class="nowrap">{{ e.created_at|date:"j M Y, H:i:s" }}</td>\n      <td>{{ e.actor_email|default:"anonymous" }}</td>\n      <td>{% if e.allowed %}<span class="badge">{{ e.get_action_display }}</span>{% else %}<span class="badge bad">{{ e.get_action_display }}</span>{% endif %}</td>\n      <td class="small">{{ e.object_type }}{% if e.object_id %} #{{ e.object_id }}{% endif %}{% if e.path %}<br><span class="muted">{{ e.path|truncatechars:60 }}</span>{% endif %}</td>\n      <td>{{ e.patient_id|default:"" }}</td>\n      <td class="small mono">{{ e.ip }}</td>\n      <td class="small mono">{{ e.request_id|truncatechars:10 }}</td>\n    </tr>{% endfor %}'


def test_audit_rows_match_the_template_they_replace():
    now = timezone.now()
    events = [
        AuditEvent(
            created_at=now,
            actor_email="ada@usc.edu.ph",
            action="read",
            object_type="patients.patient",
            object_id="42",
            patient_id=42,
            allowed=True,
            ip="10.0.0.1",
            request_id="0123456789abcdef0123456789abcdef",
            path="/patients/42/?tab=" + "x" * 80,
        ),
        AuditEvent(
            created_at=now - timedelta(days=400),
            actor_email="",
            action="denied",
            object_type="<script>",
            object_id="",
            patient_id=None,
            allowed=False,
            ip="",
            request_id="short",
            path="/añadir/ñandú/" + "é" * 70,  # non-ASCII: Django's Truncator
        ),
        AuditEvent(
            created_at=now,
            actor_email='o"neil@usc.edu.ph',
            action="export",
            object_type="inventory.item",
            object_id="7",
            allowed=True,
            request_id="exactly10c",
            path="/exactly/sixty/" + "p" * 45,
        ),
    ]
    expected = Template(OLD_ROWS).render(Context({"page": events}))
    assert "".join(audit_row(e) for e in events) == expected
    assert "&lt;script&gt;" in expected


def _stored_events() -> list[AuditEvent]:
    base = timezone.now().replace(microsecond=0)
    for i, month in enumerate(range(1, 13)):
        AuditEvent.objects.create(
            created_at=base.replace(month=month, day=1 + i, hour=(i * 5) % 24),
            actor_email=f"user{i}@usc.edu.ph",
            action=["read", "login_failed", "update", "denied"][i % 4],
            object_type="patients.patient",
            object_id=str(i) if i % 3 else "",
            patient_id=i or None,
            allowed=bool(i % 2),
            ip="127.0.0.1",
            request_id=f"req-{i:030d}",
            path=f"/patients/{i}/" + "q" * (i * 6),
        )
    return list(AuditEvent.objects.filter(actor_email__startswith="user").order_by("-id"))


def test_the_page_rows_render_like_the_events_they_read():
    """The page reads light rows (``selectors.audit_rows``: no detail, hashes or user row);
    they render exactly as the full events did, in the page's order, in every month."""
    events = _stored_events()
    rows = list(selectors.audit_rows(selectors.audit_search(user="user")))
    assert [r.id for r in rows] == [e.id for e in events]
    expected = Template(OLD_ROWS).render(Context({"page": events}))
    assert "".join(audit_row(r) for r in rows) == expected
    assert "Login failed" in expected and "badge bad" in expected


def test_rows_use_the_translated_month_names():
    events = _stored_events()
    with translation.override("fr"):
        expected = Template(OLD_ROWS).render(Context({"page": events}))
        assert "".join(audit_row(e) for e in events) == expected
        assert "Déc" in expected or "Jan" not in expected


def test_the_audit_trail_page_shows_and_filters_the_events(client_for, admin_user):
    events = _stored_events()
    client = client_for(admin_user)
    body = client.get(reverse("accounts:audit_list")).content.decode()
    for e in events:
        assert e.actor_email in body
    body = client.get(
        reverse("accounts:audit_list"), {"user": "user5@", "action": "login_failed"}
    ).content.decode()
    assert "user5@usc.edu.ph" in body and "user1@usc.edu.ph" not in body
    assert "Login failed" in body
