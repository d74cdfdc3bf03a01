"""Calendar cells built in Python still escape everything."""

from appointments.templatetags.calendar_cells import grid_cell, list_cell

ITEM = {
    "cls": "cal-item st-booked",
    "href": "/appointments/7/",
    "time": "9:30 AM",
    "short_time": "9:30",
    "patient": '<script>alert("x")</script> Ana',
    "type": "Consult & <b>",
    "status_label": "Booked",
    "provider": "Dr. O'Neil",
}


def test_grid_and_list_cells_escape_every_value():
    for html in (grid_cell(ITEM), list_cell(ITEM)):
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "Consult &amp; &lt;b&gt;" in html
        assert 'href="/appointments/7/"' in html
    assert "Dr. O&#x27;Neil" in list_cell(ITEM)
    assert grid_cell(ITEM).startswith('<a class="cal-item st-booked"')


# The markup the booking page's slot grid had as template code, kept to check slot_radios.
SLOT_TEMPLATE = (
    '{% for d in days %}{% for s in d.slots %}<div class="slot"><input type="radio" '
    'name="slot" id="slot-{{ forloop.parentloop.counter }}-{{ forloop.counter }}" '
    'value="{{ s.value }}" required><label for="slot-{{ forloop.parentloop.counter }}-'
    '{{ forloop.counter }}">{{ s.local_start|date:"g:i A" }}<small>{{ s.provider_name }}'
    '</small></label></div>{% empty %}<span class="slot-none">No times</span>{% endfor %}|'
    "{% endfor %}"
)


def test_slot_radios_match_the_template_they_replace():
    from datetime import UTC, datetime, timedelta

    from django.template import Context, Template

    from appointments.slots import Slot
    from appointments.templatetags.calendar_cells import slot_radios

    base = datetime(2026, 3, 2, 0, 5, tzinfo=UTC)  # 08:05 in Manila; also noon, midnight
    names = ["Dr. O'Neil & <b>Co</b>", "Dr. Ana"]
    days = [
        {
            "slots": [
                Slot(
                    i + 1,
                    names[i % 2],
                    base + timedelta(hours=h),
                    base + timedelta(hours=h, minutes=30),
                )
                for i, h in enumerate(hours)
            ]
        }
        for hours in ([0, 4, 5, 9], [], [15.9, 16, 23])
    ]
    expected = Template(SLOT_TEMPLATE).render(Context({"days": days}))
    got = "".join(f"{slot_radios(d['slots'], n)}|" for n, d in enumerate(days, start=1))
    assert got == expected
    assert "<b>" not in got and "12:05 PM" in got and "12:" in got


def test_column_cells_match_the_template_loops_they_replace():
    from types import SimpleNamespace

    from django.template import Context, Template

    from appointments.templatetags.calendar_cells import column_cells

    col = SimpleNamespace(
        free=["cal-free r-1 s-2", 'x" onmouseover="y'], items=[ITEM, {**ITEM, "cls": "b"}]
    )
    old = Template(
        '{% load calendar_cells %}{% for f in col.free %}<div class="{{ f }}"></div>{% endfor %}'
        "{% for a in col.items %}{% grid_cell a %}{% endfor %}"
    ).render(Context({"col": col}))
    assert column_cells(col) == old
    assert column_cells(SimpleNamespace(free=[], items=[])) == ""
