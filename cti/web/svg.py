"""Server-rendered SVG bar charts for the reports page (pure: figures in, SVG text out)."""

from __future__ import annotations

from xml.sax.saxutils import escape

WIDTH, BAR, GAP, LABEL = 640, 22, 8, 160


def bar_chart(title: str, values: dict[str, float | None], *, unit: str = "") -> str:
    """Horizontal bars, one per group, labelled with the group and its value."""
    rows = [(name, float(v)) for name, v in values.items() if v is not None]
    top = max((v for _, v in rows), default=0.0) or 1.0
    height = max(60, 34 + len(rows) * (BAR + GAP) + 6)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
             f'font-size="13">', f"<title>{escape(title)}</title>",
             f'<text x="0" y="18" font-weight="700">{escape(title)}</text>']
    for index, (name, value) in enumerate(rows):
        y = 30 + index * (BAR + GAP)
        width = max(1.0, (WIDTH - LABEL - 90) * value / top)
        shown = f"{value:g}{unit}"
        parts += [f'<text x="0" y="{y + 16}">{escape(name[:22])}</text>',
                  f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" fill="#0b63ce" rx="3"/>',
                  f'<text x="{LABEL + width + 6:.1f}" y="{y + 16}">{escape(shown)}</text>']
    if not rows:
        parts.append('<text x="0" y="48">no data in this period</text>')
    parts.append("</svg>")
    return "".join(parts)
