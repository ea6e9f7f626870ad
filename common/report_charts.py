"""The funders' report's charts, drawn on the server as SVG: the same drawing goes in the page and in the PDF.

Colours and sizes are attributes, not CSS, because the PDF writer reads attributes only. Each chart has a title
and a description (a screen reader reads them), and the page puts a table of the same figures next to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from common.report import KINDS

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 56
# Dark enough on white for text (WCAG AA) and told apart by people who see few colours.
COLOURS = {
    "members": "#1f5f8b",
    "passes": "#c05a00",
    "guests": "#6a3d9a",
    "offices": "#2e7d32",
    "meeting_room": "#8a1c3c",
    "other_rooms": "#555555",
    "morning": "#1f5f8b",
    "afternoon": "#c05a00",
}
INK, GRID, TARGET = "#1a1a1a", "#cccccc", "#b00020"


def _open(title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'class="report-chart"><title>{escape(title)}</title><desc>{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]


def _scale(top: int) -> tuple[int, float]:
    top = max(top, 1)
    return top, (HEIGHT - TOP - BOTTOM) / top


def _axis(parts: list[str], top: int, per: float) -> None:
    for fraction in (0, 0.5, 1):
        value = round(top * fraction)
        y = HEIGHT - BOTTOM - value * per
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">{value}</text>'
        )


def _legend(parts: list[str], names: Sequence[tuple[str, str]]) -> None:
    """Coloured keys under the chart, on a second line when the first is full."""
    x, y = float(LEFT), HEIGHT - 32
    for key, name in names:
        width = 22 + 6.5 * len(name)
        if x + width > WIDTH - RIGHT:
            x, y = float(LEFT), y + 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{COLOURS[key]}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}" font-size="11" fill="{INK}">{escape(name)}</text>'
        )
        x += width


def bars(title: str, description: str, rows: Sequence[tuple[str, str, int]]) -> Markup:
    """One horizontal bar per row (key, label, value), its label on the left and its value at its end."""
    label_w, row_h = 190, (HEIGHT - TOP - 8) / max(len(rows), 1)
    top = max([n for _k, _l, n in rows] or [0]) or 1
    per = (WIDTH - label_w - RIGHT - 48) / top
    parts = _open(title, description)
    for i, (key, label, n) in enumerate(rows):
        y = TOP + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h * 0.6:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + row_h * 0.15:.1f}" width="{max(n * per, 1):.1f}" height="{row_h * 0.7:.1f}" '
            f'fill="{COLOURS[key]}"/>'
            f'<text x="{label_w + n * per + 6:.1f}" y="{y + row_h * 0.6:.1f}" font-size="12" fill="{INK}">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_months(
    title: str,
    description: str,
    months: Sequence[tuple[str, dict[str, int]]],
    target: int,
    target_label: str,
    kind_names: dict[str, str],
) -> Markup:
    """One bar per month, stacked by kind of use, and the monthly target as a line."""
    totals = [sum(by_kind.values()) for _label, by_kind in months]
    top, per = _scale(int(max([target, *totals]) * 1.1) + 1)
    parts = _open(title, description)
    _axis(parts, top, per)
    step = (WIDTH - LEFT - RIGHT) / max(len(months), 1)
    bar = step * 0.65
    base = HEIGHT - BOTTOM
    for i, (label, by_kind) in enumerate(months):
        x, y = LEFT + i * step + (step - bar) / 2, float(base)
        for kind in KINDS:
            n = by_kind.get(kind, 0)
            if n:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y - n * per:.1f}" width="{bar:.1f}" height="{n * per:.1f}" '
                    f'fill="{COLOURS[kind]}"/>'
                )
                y -= n * per
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{base + 14}" text-anchor="middle" font-size="11" fill="{INK}">'
            f"{escape(label)}</text>"
        )
    if target:
        y = base - target * per
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{TARGET}" stroke-width="2" '
            f'stroke-dasharray="6 4"/><text x="{WIDTH - RIGHT}" y="{y - 5:.1f}" text-anchor="end" font-size="12" '
            f'fill="{TARGET}">{escape(target_label)}</text>'
        )
    _legend(parts, [(k, kind_names[k]) for k in KINDS])
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped(
    title: str,
    description: str,
    groups: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[tuple[str, str]],
) -> Markup:
    """Bars side by side for each group (a weekday's morning and afternoon), a legend of the series."""
    top, per = _scale(int(max([n for _g, values in groups for n in values.values()] or [0]) * 1.1) + 1)
    parts = _open(title, description)
    _axis(parts, top, per)
    step = (WIDTH - LEFT - RIGHT) / max(len(groups), 1)
    bar = step * 0.7 / max(len(series), 1)
    base = HEIGHT - BOTTOM
    for i, (label, values) in enumerate(groups):
        left = LEFT + i * step + step * 0.15
        for j, (key, _name) in enumerate(series):
            n = values.get(key, 0)
            if n:
                parts.append(
                    f'<rect x="{left + j * bar:.1f}" y="{base - n * per:.1f}" width="{bar:.1f}" '
                    f'height="{n * per:.1f}" fill="{COLOURS[key]}"/>'
                )
        parts.append(
            f'<text x="{LEFT + (i + 0.5) * step:.1f}" y="{base + 14}" text-anchor="middle" font-size="11" '
            f'fill="{INK}">{escape(label)}</text>'
        )
    _legend(parts, series)
    parts.append("</svg>")
    return Markup("".join(parts))
