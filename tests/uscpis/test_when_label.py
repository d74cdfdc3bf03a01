"""uscpis.dates.when_label is Django's ``date_format(..., "D j M Y, g:i A")``."""

from datetime import datetime, timedelta

from django.utils import formats, translation

from uscpis.dates import when_label, when_labeller


def test_when_label_is_djangos_format_for_every_hour_weekday_and_month():
    start = datetime(2026, 1, 1, 0, 0)
    moments = [start + timedelta(hours=h, minutes=h % 61) for h in range(0, 24 * 400, 7)]
    moments += [
        datetime(999, 12, 31, 23, 59),
        datetime(2026, 3, 2, 12, 0),
        datetime(2026, 3, 2, 0, 5),
    ]
    for moment in moments:
        assert when_label(moment) == formats.date_format(moment, "D j M Y, g:i A"), moment


def test_when_label_follows_the_active_language():
    moment = datetime(2026, 5, 4, 15, 30)
    with translation.override("fr"):
        assert when_label(moment) == formats.date_format(moment, "D j M Y, g:i A")


def test_when_labeller_is_when_label_in_the_language_active_when_made():
    moments = [datetime(2026, 5, 4, 15, 30), datetime(2026, 12, 31, 0, 1)]
    label = when_labeller()
    assert [label(m) for m in moments] == [when_label(m) for m in moments]
    with translation.override("fr"):
        french = when_labeller()
        assert [french(m) for m in moments] == [
            formats.date_format(m, "D j M Y, g:i A") for m in moments
        ]
