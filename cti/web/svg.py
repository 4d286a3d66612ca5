"""Server-rendered SVG charts for the reports page (pure: figures in, SVG text out): bars by group, a
week as a heat map, and a series over intervals (the forecast).

A bar's length is its value on an axis that starts at zero and ends at a round number at or above
the largest value (100 for percentages), so one group's 42.9 % draws as less than half a bar, and
bars of different charts read the same way. Values are shown rounded, with their unit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from xml.sax.saxutils import escape

WIDTH, BAR, GAP, LABEL, RIGHT = 640, 22, 8, 160, 110


def nice_max(top: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``top`` (the axis end)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 2.5, 5, 10):
        if top <= step * power:
            return step * power
    return 10 * power


ENGLISH_UNITS = {"s": "s", "min": "min", "h": "h"}


def format_value(value: float, unit: str, units: Mapping[str, str] = ENGLISH_UNITS) -> str:
    """A figure as people read it: 42.9 %, 12 s, 3 min 20 s, 2 h 05 min, 7 (``units``: the words for
    s, min and h in the reader's language)."""
    s, m, h = units["s"], units["min"], units["h"]
    if unit == "%":
        return f"{value:.0f} %" if value in (0.0, 100.0) else f"{value:.1f} %"
    if unit == "s":
        if value < 60:
            return f"{value:.1f} {s}" if value < 10 else f"{value:.0f} {s}"
        if value < 3600:
            minutes, seconds = divmod(round(value), 60)
            return f"{minutes} {m} {seconds} {s}"
        hours, minutes = divmod(round(value / 60), 60)
        return f"{hours} {h} {minutes:02d} {m}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(title: str, values: dict[str, float | None], *, unit: str = "",
              units: Mapping[str, str] = ENGLISH_UNITS) -> str:
    """Horizontal bars, one per group, on a zero-based axis, labelled with the group and its value."""
    rows = [(name, float(v)) for name, v in values.items() if v is not None]
    axis = 100.0 if unit == "%" else nice_max(max((v for _, v in rows), default=0.0))
    span = WIDTH - LABEL - RIGHT
    height = max(60, 34 + len(rows) * (BAR + GAP) + 22)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
             f'font-size="13">', f"<title>{escape(title)}</title>",
             f'<text x="0" y="18" font-weight="700">{escape(title)}</text>']
    bottom = 30 + len(rows) * (BAR + GAP)
    if rows:  # the axis: zero and its end, so a bar's length can be read against it
        parts += [f'<line x1="{LABEL}" y1="26" x2="{LABEL}" y2="{bottom}" stroke="#888"/>',
                  f'<line x1="{LABEL + span}" y1="26" x2="{LABEL + span}" y2="{bottom}" stroke="#ccc" '
                  f'stroke-dasharray="3 3"/>',
                  f'<text x="{LABEL}" y="{bottom + 14}" font-size="11" fill="#555">0</text>',
                  f'<text x="{LABEL + span}" y="{bottom + 14}" font-size="11" fill="#555" text-anchor="end">'
                  f'{escape(format_value(axis, unit, units))}</text>']
    for index, (name, value) in enumerate(rows):
        y = 30 + index * (BAR + GAP)
        width = span * max(0.0, min(value, axis)) / axis
        parts += [f'<text x="0" y="{y + 16}">{escape(name[:22])}</text>',
                  f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" fill="#0b63ce" rx="3" '
                  f'data-value="{value:g}"/>',
                  f'<text x="{LABEL + width + 6:.1f}" y="{y + 16}">{escape(format_value(value, unit, units))}</text>']
    if not rows:
        parts.append('<text x="0" y="48">no data in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


CELL, DAY_LABEL = 22, 48
NO_VALUE = "\u2013"  # (an en dash: no figure)
EMPTY = "#e4e7eb"  # a cell without a figure (nothing arrived); a zero is near-white, the largest dark blue


def heat_map(title: str, values: Mapping[str, float | None], *, days: list[str], unit: str = "",
             units: Mapping[str, str] = ENGLISH_UNITS) -> str:
    """A week as 7 rows (``days``: Monday first, in the reader's language) of 24 hours; ``values``
    keyed ``<ISO weekday>-<hour>`` (``1-09``). The darker the cell, the larger its value against the
    week's largest; each cell names its day, hour and value."""
    known = {k: float(v) for k, v in values.items() if v is not None}
    top = max(known.values(), default=0.0)
    width, height = DAY_LABEL + 24 * CELL + 4, 44 + 7 * CELL + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
             f'font-size="11">', f"<title>{escape(title)}</title>",
             f'<text x="0" y="16" font-size="13" font-weight="700">{escape(title)}</text>']
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{DAY_LABEL + hour * CELL + 2}" y="36" fill="#555">{hour:02d}</text>')
    for day in range(1, 8):
        y = 40 + (day - 1) * CELL
        parts.append(f'<text x="0" y="{y + 15}">{escape(days[day - 1])}</text>')
        for hour in range(24):
            key = f"{day}-{hour:02d}"
            value = known.get(key)
            share = value / top if value is not None and top > 0 else 0.0
            fill = EMPTY if value is None else \
                f"rgb({int(250 - 239 * share)},{int(252 - 153 * share)},{int(255 - 49 * share)})"
            shown = NO_VALUE if value is None else format_value(value, unit, units)
            data = "" if value is None else f"{value:g}"
            parts.append(f'<rect x="{DAY_LABEL + hour * CELL}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" '
                         f'fill="{fill}" data-key="{key}" data-value="{data}">'
                         f"<title>{escape(f'{days[day - 1]} {hour:02d}:00: {shown}')}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)


SERIES_COLORS = ("#0b63ce", "#c77700", "#2a8a3a")
PLOT_LEFT, PLOT_TOP, PLOT_WIDTH, PLOT_HEIGHT = 44, 46, 660, 160


def series_chart(title: str, ticks: list[tuple[int, str]], series: list[tuple[str, list[float | None], str]], *,
                 count: int) -> str:
    """Values over ``count`` intervals on one zero-based axis: each series (name, values, ``bars`` or
    ``line``) in its own colour with a legend; ``ticks`` label some intervals (index, text), e.g. each
    day's start. A gap (None) breaks a line."""
    top = nice_max(max((v for _, values, _ in series for v in values if v is not None), default=0.0))
    width, height = PLOT_LEFT + PLOT_WIDTH + 8, PLOT_TOP + PLOT_HEIGHT + 26
    step = PLOT_WIDTH / max(count, 1)

    def y(value: float) -> float:
        return PLOT_TOP + PLOT_HEIGHT * (1 - min(value, top) / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
             f'font-size="11">', f"<title>{escape(title)}</title>",
             f'<text x="0" y="16" font-size="13" font-weight="700">{escape(title)}</text>',
             f'<line x1="{PLOT_LEFT}" y1="{PLOT_TOP + PLOT_HEIGHT}" x2="{PLOT_LEFT + PLOT_WIDTH}" '
             f'y2="{PLOT_TOP + PLOT_HEIGHT}" stroke="#888"/>',
             f'<text x="{PLOT_LEFT - 4}" y="{PLOT_TOP + 4}" text-anchor="end" fill="#555">'
             f'{format_value(top, "")}</text>',
             f'<text x="{PLOT_LEFT - 4}" y="{PLOT_TOP + PLOT_HEIGHT}" text-anchor="end" fill="#555">0</text>']
    legend_x = 0.0
    for (name, values, kind), color in zip(series, SERIES_COLORS, strict=False):
        parts.append(f'<rect x="{legend_x}" y="26" width="10" height="10" fill="{color}"/>'
                     f'<text x="{legend_x + 14}" y="35">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
        if kind == "bars":
            parts += [f'<rect x="{PLOT_LEFT + i * step:.1f}" y="{y(v):.1f}" width="{max(step - 1, 0.5):.1f}" '
                      f'height="{PLOT_TOP + PLOT_HEIGHT - y(v):.1f}" fill="{color}" fill-opacity="0.55" '
                      f'data-series="{escape(name)}" data-value="{v:g}"/>' for i, v in enumerate(values)
                      if v is not None]
            continue
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{PLOT_LEFT + (i + 0.5) * step:.1f},{y(v):.1f}")
        parts += [f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2" '
                  f'data-series="{escape(name)}"/>' for run in runs if run]
    for index, text in ticks:
        x = PLOT_LEFT + index * step
        parts.append(f'<line x1="{x:.1f}" y1="{PLOT_TOP}" x2="{x:.1f}" y2="{PLOT_TOP + PLOT_HEIGHT}" stroke="#ccc" '
                     f'stroke-dasharray="2 3"/><text x="{x + 2:.1f}" y="{PLOT_TOP + PLOT_HEIGHT + 14}" '
                     f'fill="#555">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
