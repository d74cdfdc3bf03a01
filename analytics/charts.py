"""Server-rendered SVG charts (attributes and classes only: strict CSP, no inline style or
script). Each chart carries its own table (the same figures) and a CSV export, so every
picture can also be read as numbers and downloaded.

Values may be "suppressed" (privacy): they are drawn as zero-height marks and shown as
"<5" in the table and the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from html import escape

from django.utils.safestring import SafeString, mark_safe

SUPPRESSED = "<5"
SERIES_CLASSES = ("s0", "s1", "s2", "s3", "s4", "s5")


def num(value) -> float:
    return 0.0 if value is None or value == SUPPRESSED else float(value)


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


@dataclass
class Chart:
    """A chart and its table. ``header``/``rows`` are the table (and the CSV)."""

    id: str
    title: str
    kind: str  # line | bar | hbar
    header: list[str]
    rows: list[list]
    series: list[dict] = field(default_factory=list)  # line/bar: {"name", "cls", "points"...}
    width: int = 720
    height: int = 240
    note: str = ""
    geometry: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def csv_name(self) -> str:
        return f"{self.id}.csv"

    @property
    def table_rows(self) -> list[list[str]]:
        return [[fmt(v) for v in row] for row in self.rows]

    # The markup is built here rather than in ``_chart.html``: a daily chart has hundreds of
    # marks, and rendering each through template tags cost more than the page's queries.
    # Every text is escaped (``html.escape``, as the template's autoescape does).

    @cached_property
    def svg(self) -> SafeString:
        """The ``<svg>`` element (line or horizontal bars)."""
        g = self.geometry
        out = [
            f'<svg class="chart analytics-chart" viewBox="0 0 {self.width} {self.height}" '
            f'role="img" aria-label="{escape(str(self.title))}">'
        ]
        if self.kind == "line":
            left, right = g["left"], g["right"]
            for line in g["grid"]:
                y = line["y"]
                out.append(
                    f'<line class="axis" x1="{left}" y1="{y}" x2="{right}" y2="{y}"></line>'
                    f'<text x="{left - 4}" y="{int(y) + 4}" text-anchor="end">'
                    f"{escape(line['label'])}</text>"
                )
            out.extend(f'<path class="band" d="{area}"></path>' for area in g["areas"])
            for s in self.series:
                cls, name = s["cls"], escape(str(s["name"]))
                out.append(f'<polyline class="series {cls}" points="{s["points"]}"></polyline>')
                out.extend(
                    f'<circle class="dot {cls}" cx="{d["x"]}" cy="{d["y"]}" r="2.5">'
                    f"<title>{name} · {escape(d['label'])}</title></circle>"
                    for d in s["dots"]
                )
            label_y = g["label_y"]
            out.extend(
                f'<text x="{t["x"]}" y="{label_y}" text-anchor="middle">'
                f"{escape(str(t['label']))}</text>"
                for t in g["ticks"]
            )
        else:
            label_x, label_w, bar_h = g["label_x"], g["label_w"], g["bar_h"]
            out.extend(
                f'<text x="{label_x}" y="{b["text_y"]}" text-anchor="end">'
                f"<title>{escape(str(b['full']))}</title>{escape(str(b['label']))}</text>"
                f'<rect class="bar{" suppressed" if b["suppressed"] else ""}" x="{label_w}" '
                f'y="{b["y"]}" width="{b["w"]}" height="{bar_h}"></rect>'
                f'<text x="{b["value_x"]}" y="{b["text_y"]}">{escape(b["value"])}</text>'
                for b in g["bars"]
            )
            out.append(
                f'<line class="axis" x1="{label_w}" y1="0" x2="{label_w}" '
                f'y2="{self.height}"></line>'
            )
        out.append("</svg>")
        return mark_safe("".join(out))  # noqa: S308 (every text above is escaped)

    @cached_property
    def table_html(self) -> SafeString:
        """The table view: the same figures as the picture (and the CSV)."""
        head = "".join(
            f"<th>{escape(str(h))}</th>" if i == 0 else f'<th class="num">{escape(str(h))}</th>'
            for i, h in enumerate(self.header)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(c)}</td>" if i == 0 else f'<td class="num">{escape(c)}</td>'
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in self.table_rows
        )
        return mark_safe(  # noqa: S308 (every text is escaped)
            f'<table class="table" id="{escape(self.id)}-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 5:
            return float(step * 5 if value > step * 4 else step * (int(value // step) + 1))
    return float(value * 1.1)


def line_chart(
    id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, list]],
    *,
    header: list[str] | None = None,
    note: str = "",
    bands: list[tuple[list, list]] | None = None,
) -> Chart:
    """Lines over shared x ``labels``; ``series`` = [(name, values)]. ``bands`` = optional
    [(low values, high values)] drawn as a shaded interval behind the lines."""
    width, height, left, right, top, bottom = 720, 240, 44, 34, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(
        max(
            [num(v) for _, values in series for v in values]
            + [num(v) for _, hi in (bands or []) for v in hi]
            + [0]
        )
    )
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)

    def xy(i, v):
        return left + i * step, top + plot_h - num(v) / top_value * plot_h

    drawn = []
    for k, (name, values) in enumerate(series):
        points = " ".join(
            f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values) if v is not None)
        )
        # Dots (with their hover labels) only on charts of up to 60 points.
        dots = (
            [
                {"x": round(x, 1), "y": round(y, 1), "label": f"{labels[i]}: {fmt(v)}"}
                for i, v in enumerate(values)
                if v is not None
                for x, y in [xy(i, v)]
            ]
            if n <= 60
            else []
        )
        drawn.append(
            {
                "name": name,
                "cls": SERIES_CLASSES[k % len(SERIES_CLASSES)],
                "points": points,
                "dots": dots,
            }
        )
    areas = []
    for lo, hi in bands or []:
        # Full-length lists; None = no band at that x (e.g. the history before a forecast).
        shown = [i for i in range(len(hi)) if hi[i] is not None and lo[i] is not None]
        upper = [xy(i, hi[i]) for i in shown]
        lower = [xy(i, lo[i]) for i in shown][::-1]
        if upper:
            areas.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower) + " Z")
    every = max(1, n // 8)
    ticks = [
        {"x": round(left + i * step, 1), "label": labels[i]} for i in range(0, len(labels), every)
    ]
    grid = [
        {"y": round(top + plot_h - f * plot_h, 1), "label": fmt(top_value * f)} for f in (0, 0.5, 1)
    ]
    rows = [[labels[i], *[values[i] for _, values in series]] for i in range(len(labels))]
    return Chart(
        id=id,
        title=title,
        kind="line",
        header=header or ["Period", *[name for name, _ in series]],
        rows=rows,
        series=drawn,
        width=width,
        height=height,
        note=note,
        geometry={
            "left": left,
            "right": width - right,
            "top": top,
            "bottom": top + plot_h,
            "ticks": ticks,
            "grid": grid,
            "areas": areas,
            "label_y": height - 8,
        },
    )


def bar_chart(
    id: str,
    title: str,
    rows: list[tuple[str, object]],
    *,
    header: list[str] | None = None,
    note: str = "",
    extra_columns: list[list] | None = None,
    unit: str = "",
) -> Chart:
    """Horizontal bars, one per (label, value); ``extra_columns`` add table-only columns."""
    bar_h, gap, label_w, width = 16, 8, 230, 720
    plot_w = width - label_w - 70
    top_value = max([num(v) for _, v in rows] + [0]) or 1.0
    bars = []
    for i, (label, value) in enumerate(rows):
        y = 6 + i * (bar_h + gap)
        w = round(plot_w * num(value) / top_value, 1)
        bars.append(
            {
                "label": label if len(label) <= 34 else label[:33] + "…",
                "full": label,
                "y": y,
                "text_y": y + bar_h - 4,
                "w": w,
                "value_x": label_w + w + 6,
                "value": fmt(value) + (unit if value not in (None, SUPPRESSED) else ""),
                "suppressed": value == SUPPRESSED,
            }
        )
    table = [
        [label, value, *(extra_columns[i] if extra_columns else [])]
        for i, (label, value) in enumerate(rows)
    ]
    return Chart(
        id=id,
        title=title,
        kind="hbar",
        header=header or ["", "Count"],
        rows=table,
        width=width,
        height=max(40, 12 + len(rows) * (bar_h + gap)),
        note=note,
        geometry={"bars": bars, "label_w": label_w, "label_x": label_w - 8, "bar_h": bar_h},
    )
