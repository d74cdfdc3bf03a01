"""CSV downloads are safe to open in a spreadsheet: formulas arrive as text, numbers as numbers."""

import csv
import io
from decimal import Decimal

import pytest

from uscpis.csvexport import csv_cell, csv_download, csv_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("+2.50", "+2.50"),
        ("Paracetamol 500 mg", "Paracetamol 500 mg"),
        ("", ""),
        (Decimal("-5.000"), Decimal("-5.000")),
        (-3, -3),
        (None, None),
    ],
)
def test_csv_cell_defuses_formulas_but_keeps_numbers(value, expected):
    assert csv_cell(value) == expected


def test_download_and_text_defuse_every_cell():
    rows = [["=1+2", Decimal("-5"), "note"], ["ok", 3, "@x"]]
    streamed = b"".join(csv_download("x.csv", ["a", "b", "c"], iter(rows)).streaming_content)
    for text in (streamed.decode(), csv_text(["a", "b", "c"], rows)):
        parsed = list(csv.reader(io.StringIO(text)))
        assert parsed == [["a", "b", "c"], ["'=1+2", "-5", "note"], ["ok", "3", "'@x"]]
