"""Dashboard PDFs (reportlab): the headline figures and every chart's table, so a page can
be filed or emailed (the weekly report attaches one)."""

from __future__ import annotations

from io import BytesIO
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from analytics.charts import Chart


def dashboard_pdf(
    *, title: str, subtitle: str, kpis=(), charts: list[Chart] = (), notes=()
) -> bytes:
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=title,
    )
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    story = [
        Paragraph(escape(settings.CLINIC_NAME), styles["Title"]),
        Paragraph(escape(title), styles["Heading2"]),
        Paragraph(escape(subtitle), styles["Normal"]),
        Paragraph(f"Generated {timezone.localtime():%d %b %Y %H:%M}", small),
        Spacer(1, 4 * mm),
    ]
    if kpis:
        rows = [["Figure", "Value", ""]] + [
            [escape(k.label), escape(str(k.value)), Paragraph(escape(k.detail), small)]
            for k in kpis
        ]
        story += [_table(rows, [55 * mm, 30 * mm, 93 * mm]), Spacer(1, 5 * mm)]
    for note in notes:
        story.append(Paragraph(escape(note), styles["Normal"]))
    for chart in charts:
        story.append(Paragraph(escape(chart.title), styles["Heading4"]))
        if chart.empty:
            story.append(Paragraph("No data for this period.", small))
            continue
        rows = [[Paragraph(escape(h), small) for h in chart.header]] + [
            [Paragraph(escape(c), small) for c in row] for row in chart.table_rows[:60]
        ]
        story += [_table(rows), Spacer(1, 4 * mm)]
    doc.build(story)
    return buffer.getvalue()


def _table(rows, widths=None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c5ced8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table
