"""The audit trail's rows rendered in Python match the template code they replace."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django import forms
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from accounts import selectors
from accounts.forms import AuditFilterForm
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


ROW_ID = re.compile(r'<td class="small">patients\.patient #(\d+)')


def _walk(client, url, params, link_word):
    """Follow the 'Older →' / '← Newer' links from ``url`` (as a browser without JavaScript
    would), returning the object ids seen page by page."""
    pages = []
    body = client.get(url, params).content.decode()
    while True:
        pages.append([int(x) for x in ROW_ID.findall(body)])
        m = re.search(r'<a class="button secondary small" href="\?([^"]*)"[^>]*>' + link_word, body)
        if m is None:
            return pages, body
        assert len(pages) < 20
        body = client.get(f"{url}?{html.unescape(m.group(1))}").content.decode()


def test_the_trail_pages_by_keyset_through_every_matching_event(client_for, admin_user):
    """Older pages reach every matching event once, newest first, with the filters kept;
    Newer pages come back the same way; nothing counts the matches."""
    for i in range(125):
        AuditEvent.objects.create(
            actor_email="walker@usc.edu.ph",
            action="read" if i % 5 else "export",
            object_type="patients.patient",
            object_id=str(i),
            patient_id=i + 1,
        )
    client = client_for(admin_user)
    url = reverse("accounts:audit_list")
    reads = [i for i in reversed(range(125)) if i % 5]  # 100 reads, newest first
    pages, last = _walk(client, url, {"user": "walker", "action": "read"}, "Older")
    assert [len(p) for p in pages] == [50, 50]
    assert sum(pages, []) == reads
    assert "Older →" not in last and "Newest" in last and "← Newer" in last
    # And back: from the oldest page, "Newer" returns the pages in reverse.
    back = re.search(r'href="\?([^"]*)"[^>]*>← Newer', last).group(1)
    assert "user=walker" in back and "action=read" in back
    pages_back, newest = _walk(client, f"{url}?{html.unescape(back)}", {}, "← Newer")
    assert sum(pages_back, []) == reads[:50]
    # Unfiltered: 125 walker events plus whatever the sign-in wrote, 50 a page.
    pages_all, _ = _walk(client, url, {}, "Older")
    assert [i for p in pages_all for i in p] == list(reversed(range(125)))
    # HTMX gets the table alone, with links that target it.
    fragment = client.get(
        url, {"user": "walker", "before": str(10**9)}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="audit-table"')
    assert 'hx-target="#audit-table"' in fragment and "Older →" in fragment
    # A key past the end, or junk, never errors.
    assert "No more events." in client.get(url, {"after": str(10**12)}).content.decode()
    assert client.get(url, {"before": "abc", "page": "9"}).status_code == 200


def test_the_trail_page_reads_no_count(client_for, admin_user):
    client = client_for(admin_user)
    client.get(reverse("accounts:audit_list"))
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("accounts:audit_list"))
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


class _DjangoWidgetsFilterForm(AuditFilterForm):
    """The filter form with Django's template-rendered widgets, as the reference."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.fields:
            fast = self.fields[name].widget
            plain = {"user": forms.TextInput, "patient": forms.NumberInput}.get(name)
            if name == "action":
                plain = forms.Select
            elif name.startswith("date_"):
                plain = forms.DateInput
            widget = plain(attrs={"type": "date"} if name.startswith("date_") else None)
            widget.choices = getattr(fast, "choices", ())
            widget.attrs.update({k: v for k, v in fast.attrs.items() if k != "type"})
            self.fields[name].widget = widget


def _norm_ws(html_text: str) -> str:
    return re.sub(r">\s+<", "><", str(html_text)).strip()


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"user": 'a"<b>&c', "patient": "12", "action": "login_failed"},
        {"patient": "abc", "action": "nope", "date_from": "2026-03-01", "date_to": "2026-02-01"},
        {"date_from": "2026-13-45", "user": "x" * 300},
    ],
)
def test_the_filter_form_draws_djangos_markup(data):
    fast, plain = AuditFilterForm(data), _DjangoWidgetsFilterForm(data)
    if data is not None:
        assert fast.is_valid() == plain.is_valid()
        assert fast.errors == plain.errors
    for name in fast.fields:
        assert _norm_ws(fast[name]) == _norm_ws(plain[name]), name
    assert "<b>" not in str(fast["user"])
