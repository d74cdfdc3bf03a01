"""Small server-rendered SVG line charts (attributes only: strict CSP, no inline styles)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 320, 96, 34, 16, 8


@dataclass
class LineChart:
    title: str
    unit: str
    points: str
    area: str
    max_label: str
    latest_label: str
    start_label: str
    end_label: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = PAD_LEFT
    top: int = PAD_TOP
    bottom: int = HEIGHT - PAD_BOTTOM
    empty: bool = False


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def line_chart(
    title: str,
    values: list[float | None],
    *,
    unit: str = "",
    start_label: str = "-60 min",
    end_label: str = "now",
) -> LineChart:
    """A polyline over ``values`` (None = no data, drawn as 0) scaled to its maximum."""
    clean = [v or 0.0 for v in values]
    top_value = max(clean, default=0.0)
    scale = top_value if top_value > 0 else 1.0
    inner_w, inner_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / max(len(clean) - 1, 1)
    coords = [
        (PAD_LEFT + i * step, PAD_TOP + inner_h - (v / scale) * inner_h)
        for i, v in enumerate(clean)
    ]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    base = PAD_TOP + inner_h
    area = (
        f"M{coords[0][0]:.1f},{base:.1f} "
        + " ".join(f"L{x:.1f},{y:.1f}" for x, y in coords)
        + f" L{coords[-1][0]:.1f},{base:.1f} Z"
        if coords
        else ""
    )
    latest = next((v for v in reversed(values) if v is not None), None)
    return LineChart(
        title=title,
        unit=unit,
        points=points,
        area=area,
        max_label=_fmt(top_value, unit),
        latest_label="no data" if latest is None else _fmt(latest, unit),
        start_label=start_label,
        end_label=end_label,
        empty=not any(clean),
    )
