"""The audit trail's rows rendered in Python match the template code they replace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

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
