"""Server-rendered bar charts as inline SVG: no JavaScript, nothing the CSP would block.

Only SVG presentation attributes are used (``fill``, ``x``, ``width``…), never ``style``
attributes, which the page's ``style-src 'self'`` policy refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

#: Colour-blind-safe palette (Okabe-Ito), one colour per series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Chart:
    """What to draw: one bar (or group, or stack) per label, one value per series."""

    labels: list[str]
    series: list[str]
    values: list[list[float]]  # values[i][j]: label i, series j
    #: ``stacked`` adds series up in one bar; ``grouped`` draws them side by side.
    mode: str = "stacked"
    #: ``columns`` (vertical, for time) or ``bars`` (horizontal, for categories).
    orientation: str = "bars"
    title: str = ""
    unit: str = ""
    legend: bool = field(default=True)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _legend(chart: Chart, y: float) -> list[str]:
    if not chart.legend or len(chart.series) < 2:
        return []
    out, x = [], 0.0
    for j, name in enumerate(chart.series):
        colour = PALETTE[j % len(PALETTE)]
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14:.0f}" y="{y + 9:.0f}" {FONT}>{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def render(chart: Chart) -> Markup:
    """Return the chart as an accessible ``<svg>`` element."""
    if chart.orientation == "columns":
        return _columns(chart)
    return _bars(chart)


def _totals(chart: Chart) -> list[float]:
    if chart.mode == "stacked":
        return [sum(v) for v in chart.values]
    return [max(v, default=0) for v in chart.values]


def _wrap(width: float, height: float, body: list[str], title: str) -> Markup:
    label = escape(title or "Chart")
    # Every text and label in ``body`` went through escape() where it was made.
    return Markup(  # noqa: S704 - built from escaped parts and numbers only
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" role="img" aria-label="{label}" class="dashboard-chart">'
        f"<title>{label}</title>{''.join(body)}</svg>"
    )


def _bars(chart: Chart) -> Markup:
    """Horizontal bars: a label on the left, the value at the end of each bar."""
    label_w = min(260, 20 + 6.5 * max((len(s) for s in chart.labels), default=4))
    plot_w, n = 420.0, len(chart.series)
    row_h = 20.0 if chart.mode == "stacked" else 8.0 + 12.0 * n
    top = 4.0
    peak = _nice_max(max(_totals(chart), default=0))
    body: list[str] = []
    for i, (label, values) in enumerate(zip(chart.labels, chart.values, strict=True)):
        y = top + i * row_h
        body.append(
            f'<text x="{label_w - 6:.0f}" y="{y + row_h / 2 + 4:.0f}" text-anchor="end" '
            f"{FONT}>{escape(label)}</text>"
        )
        x = label_w
        for j, value in enumerate(values):
            w = plot_w * value / peak
            colour = PALETTE[j % len(PALETTE)]
            tip = escape(f"{label} · {chart.series[j]}: {_fmt(value)}")
            if chart.mode == "stacked":
                bar_y, bar_h = y + 2, row_h - 4
                bar_x = x
                x += w
            else:
                bar_y, bar_h = y + 4 + 12 * j, 11.0
                bar_x = label_w
                body.append(
                    f'<text x="{bar_x + w + 4:.0f}" y="{bar_y + 9:.0f}" {FONT}>{_fmt(value)}</text>'
                )
            body.append(
                f'<rect x="{bar_x:.1f}" y="{bar_y:.1f}" width="{w:.1f}" height="{bar_h:.0f}" '
                f'fill="{colour}"><title>{tip}</title></rect>'
            )
        if chart.mode == "stacked":
            body.append(
                f'<text x="{x + 4:.0f}" y="{y + row_h / 2 + 4:.0f}" {FONT}>'
                f"{_fmt(sum(values))}{escape(chart.unit)}</text>"
            )
    height = top + len(chart.labels) * row_h + 8
    body += _legend(chart, height)
    height += 20 if chart.legend and n > 1 else 0
    return _wrap(label_w + plot_w + 70, max(height, 30), body, chart.title)


def _columns(chart: Chart) -> Markup:
    """Vertical columns over time: an axis with its maximum, a date label every few columns."""
    count = max(1, len(chart.labels))
    plot_w, plot_h, left, top = 720.0, 180.0, 48.0, 8.0
    col_w = plot_w / count
    peak = _nice_max(max(_totals(chart), default=0))
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#666"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {FONT}>{_fmt(peak)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {FONT}>0</text>',
    ]
    every = max(1, round(count / 8))  # about eight date labels, whatever the range
    for i, (label, values) in enumerate(zip(chart.labels, chart.values, strict=True)):
        x = left + i * col_w
        y = top + plot_h
        for j, value in enumerate(values):
            h = plot_h * value / peak
            y -= h
            tip = escape(f"{label} · {chart.series[j]}: {_fmt(value)}")
            body.append(
                f'<rect x="{x + col_w * 0.1:.1f}" y="{y:.1f}" width="{col_w * 0.8:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{tip}</title></rect>'
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + col_w / 2:.0f}" y="{top + plot_h + 14:.0f}" text-anchor="middle" '
                f"{FONT}>{escape(label)}</text>"
            )
    height = top + plot_h + 24
    body += _legend(chart, height)
    height += 20 if chart.legend and len(chart.series) > 1 else 0
    return _wrap(left + plot_w + 10, height, body, chart.title)


def chart_values(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """Return rows of numbers as floats (None counts as 0)."""
    return [[float(v or 0) for v in row] for row in rows]
