"""The clinic's PDF look, shared by every printed document: letterhead, page frame, text
styles and tables (reportlab)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Table, TableStyle


def styles():
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=16, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=12, spaceBefore=10, spaceAfter=4
        ),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=8, leading=10),
    }


def esc(text) -> str:
    return escape(str(text or ""))


def esc_lines(text) -> str:
    """Escaped for a Paragraph, keeping the writer's line breaks."""
    return "<br/>".join(esc(line) for line in str(text or "").splitlines())


def letterhead(canvas, doc):
    """Draw the clinic band at the top and the generated-at line at the foot of a page."""
    width, height = doc.pagesize
    canvas.saveState()
    canvas.setFillColor(colors.HexColor("#0b5d3b"))
    canvas.rect(0, height - 22 * mm, width, 22 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(15 * mm, height - 11 * mm, settings.CLINIC_NAME)
    canvas.setFont("Helvetica", 9)
    canvas.drawString(
        15 * mm, height - 17 * mm, "University of San Carlos · Cebu City, Philippines · USC-PIS"
    )
    canvas.setFillColor(colors.grey)
    canvas.setFont("Helvetica", 7.5)
    generated = timezone.localtime().strftime("%a %-d %b %Y, %-I:%M %p")
    canvas.drawString(15 * mm, 10 * mm, f"Generated {generated} · page {doc.page}")
    canvas.restoreState()


def document(buffer, title: str):
    """An A4 document with margins that leave room for the letterhead."""
    return SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author=settings.CLINIC_NAME,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=30 * mm,
        bottomMargin=18 * mm,
    )


def table(rows, widths=None, style=()):
    """A table with a bold shaded header row repeated on each page; ``style`` adds commands."""
    t = Table(rows, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f1ec")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c7bf")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                *style,
            ]
        )
    )
    return t
