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
