"""The markup analytics builds in Python rather than templates (charts, filter selects): every
figure drawn and listed, every text escaped (labels come from the data: ICD-10 titles, item
and college names)."""

from __future__ import annotations

import re

import pytest

from analytics.charts import SUPPRESSED, bar_chart, line_chart

NASTY = '<b>Tom & "Jerry\'s"</b>'
ESCAPED = "&lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;"


def test_bar_chart_draws_every_bar_and_escapes_labels():
    chart = bar_chart("c", NASTY, [(NASTY, 12), ("Small", SUPPRESSED), ("Zero", 0)])
    svg = str(chart.svg)
    assert "<b>" not in svg and ESCAPED in svg
    assert svg.startswith('<svg class="chart analytics-chart" viewBox="0 0 720 ')
    assert len(re.findall(r"<rect ", svg)) == 3
    assert svg.count('class="bar suppressed"') == 1
    assert ">12</text>" in svg and ">&lt;5</text>" in svg
    table = str(chart.table_html)
    assert table.startswith('<table class="table" id="c-table">')
    assert "<b>" not in table and ESCAPED in table
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells == [ESCAPED, "12", "Small", "&lt;5", "Zero", "0"]


def test_line_chart_draws_every_point_band_and_tick():
    labels = [f"W{i}" for i in range(10)]
    chart = line_chart(
        "l",
        "Visits",
        labels,
        [(NASTY, list(range(10))), ("Forecast", [None] * 5 + [5.5] * 5)],
        bands=[([None] * 5 + [4] * 5, [None] * 5 + [7] * 5)],
    )
    svg = str(chart.svg)
    assert "<b>" not in svg
    assert svg.count("<polyline ") == 2
    assert svg.count("<circle ") == 15  # None values are not drawn
    assert svg.count('<path class="band" d="M') == 1
    assert svg.count(f"<title>{ESCAPED} · W3: 3</title>") == 1
    assert svg.count('text-anchor="middle"') == len(range(0, 10, max(1, 10 // 8)))
    rows = re.findall(r"<tr>(.*?)</tr>", str(chart.table_html))
    assert len(rows) == 11  # header + one per label
    assert '<td>W6</td><td class="num">6</td><td class="num">5.5</td>' in rows[7]


@pytest.mark.django_db
def test_filter_selects_render_as_djangos_select():
    """The filter bar's selects are built in Python: the same markup as Django's template
    (selected option, escaping, error attributes), checked against ``forms.Select``."""
    from django import forms

    from analytics.forms import FilterForm
    from uscpis.forms import FastSelect as Select

    choices = {"units": ["School of Engineering", NASTY], "providers": []}
    for data in (None, {"unit": NASTY, "sex": "F", "provider": "not a number"}):
        form = FilterForm(data, choices=choices)
        form.is_valid()
        for name in ("provider", "patient_type", "unit", "sex", "age_band"):
            bound = form[name]
            ours = str(bound.as_widget())
            bound.field.widget.__class__ = forms.Select
            assert ours == str(bound.as_widget()), name
            bound.field.widget.__class__ = Select
    unit = str(form["unit"].as_widget())
    assert f'<option value="{ESCAPED}" selected>{ESCAPED}</option>' in unit
    assert 'aria-invalid="true"' in str(form["provider"].as_widget())
