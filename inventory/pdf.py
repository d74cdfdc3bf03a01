"""Purchase-order PDF (reportlab), emailed to the vendor and downloadable from the PO page."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from inventory.models import PurchaseOrder


def _peso(value: Decimal) -> str:
    # DejaVu is not guaranteed in reportlab's base fonts, so "PHP" instead of the peso sign.
    return f"PHP {Decimal(value):,.2f}"


def purchase_order_pdf(order: PurchaseOrder) -> bytes:
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=order.number,
    )
    styles = getSampleStyleSheet()
    vendor = order.vendor
    story = [
        Paragraph(escape(settings.CLINIC_NAME), styles["Title"]),
        Paragraph(f"Purchase order {escape(order.number)}", styles["Heading2"]),
        Paragraph(
            f"Date: {order.sent_at or order.created_at:%d %b %Y}"
            + (f" &nbsp; Expected by: {order.expected_on:%d %b %Y}" if order.expected_on else ""),
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Paragraph(f"<b>To:</b> {escape(vendor.name)}", styles["Normal"]),
    ]
    for line in (vendor.contact_name, vendor.address, vendor.email, vendor.phone):
        if line:
            story.append(Paragraph(escape(line).replace("\n", "<br/>"), styles["Normal"]))
    story.append(Spacer(1, 6 * mm))
    rows = [["#", "Item", "Code", "Quantity", "Unit cost", "Total"]]
    total = Decimal("0")
    for n, line in enumerate(order.lines.select_related("item"), start=1):
        amount = line.quantity_ordered * line.unit_cost
        total += amount
        rows.append(
            [
                str(n),
                Paragraph(escape(line.item.display_name), styles["Normal"]),
                line.item.sku,
                f"{line.quantity_ordered.normalize():f} {line.item.unit}",
                _peso(line.unit_cost),
                _peso(amount),
            ]
        )
    rows.append(["", "", "", "", "Total", _peso(total)])
    table = Table(
        rows, colWidths=[8 * mm, 62 * mm, 24 * mm, 28 * mm, 26 * mm, 28 * mm], repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#0b6e4f")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("GRID", (0, 0), (-1, -2), 0.4, colors.HexColor("#dfe5ec")),
                ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
                ("FONTNAME", (4, -1), (-1, -1), "Helvetica-Bold"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    if order.notes:
        story += [Spacer(1, 6 * mm), Paragraph(escape(order.notes), styles["Normal"])]
    story += [
        Spacer(1, 8 * mm),
        Paragraph(
            "Please deliver to the University of San Carlos Health Services "
            "and quote the order number on the delivery receipt.",
            styles["Italic"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
