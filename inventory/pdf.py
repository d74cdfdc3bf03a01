"""Purchase-order PDF, emailed to the vendor and downloadable from the PO page; drawn on the
clinic letterhead of ``uscpis.pdf``."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from inventory.models import PurchaseOrder
from uscpis import pdf


def _peso(value: Decimal) -> str:
    # DejaVu is not guaranteed in reportlab's base fonts, so "PHP" instead of the peso sign.
    return f"PHP {Decimal(value):,.2f}"


def purchase_order_pdf(order: PurchaseOrder) -> bytes:
    buffer = BytesIO()
    doc = pdf.document(buffer, order.number)
    st = pdf.styles()
    vendor = order.vendor
    story = [
        Paragraph(f"Purchase order {pdf.esc(order.number)}", st["title"]),
        Paragraph(
            f"Date: {order.sent_at or order.created_at:%d %b %Y}"
            + (f" &nbsp; Expected by: {order.expected_on:%d %b %Y}" if order.expected_on else ""),
            st["body"],
        ),
        Spacer(1, 6 * mm),
        Paragraph(f"<b>To:</b> {pdf.esc(vendor.name)}", st["body"]),
    ]
    for line in (vendor.contact_name, vendor.address, vendor.email, vendor.phone):
        if line:
            story.append(Paragraph(pdf.esc_lines(line), st["body"]))
    story.append(Spacer(1, 6 * mm))
    rows = [["#", "Item", "Code", "Quantity", "Unit cost", "Total"]]
    total = Decimal("0")
    for n, line in enumerate(order.lines.select_related("item"), start=1):
        amount = line.quantity_ordered * line.unit_cost
        total += amount
        rows.append(
            [
                str(n),
                Paragraph(pdf.esc(line.item.display_name), st["body"]),
                line.item.sku,
                f"{line.quantity_ordered.normalize():f} {line.item.unit}",
                _peso(line.unit_cost),
                _peso(amount),
            ]
        )
    rows.append(["", "", "", "", "Total", _peso(total)])
    story.append(
        pdf.table(
            rows,
            widths=[8 * mm, 62 * mm, 24 * mm, 28 * mm, 26 * mm, 28 * mm],
            style=[
                ("ALIGN", (3, 1), (-1, -1), "RIGHT"),
                ("FONT", (4, -1), (-1, -1), "Helvetica-Bold", 8.5),
            ],
        )
    )
    if order.notes:
        story += [Spacer(1, 6 * mm), Paragraph(pdf.esc_lines(order.notes), st["body"])]
    story += [
        Spacer(1, 8 * mm),
        Paragraph(
            "<i>Please deliver to the University of San Carlos Health Services "
            "and quote the order number on the delivery receipt.</i>",
            st["body"],
        ),
    ]
    doc.build(story, onFirstPage=pdf.letterhead, onLaterPages=pdf.letterhead)
    return buffer.getvalue()
