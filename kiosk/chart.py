"""The month's half-day uses against the target, drawn on the server as SVG: no script, no library, readable
from across the room. Bars are the uses of each day; the solid line is the running total; the dashed line is the
pace that reaches the target on the last day of the month. The part of a day's bar booked in rooms and offices is
drawn in its own colour on top of the open space's."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 960
HEIGHT = 300
LEFT = 64  # room for the y-axis figures
RIGHT = 16
TOP = 16
BOTTOM = 40  # room for the day numbers


@dataclass(frozen=True)
class ChartLabels:
    title: str
    target: str  # e.g. "objectif 200"
    total: str  # e.g. "124 au 17"


def month_chart(
    daily: dict[dt.date, int],
    month_start: dt.date,
    today: dt.date,
    target: int,
    labels: ChartLabels,
    daily_booked: dict[dt.date, int] | None = None,
) -> Markup:
    """An inline <svg> of the month of `month_start`, with the days up to `today` filled in; `daily_booked` is the
    part of each day's uses that rooms and offices took."""
    days = calendar.monthrange(month_start.year, month_start.month)[1]
    counts = [daily.get(month_start.replace(day=d), 0) for d in range(1, days + 1)]
    booked = [min((daily_booked or {}).get(month_start.replace(day=d), 0), counts[d - 1]) for d in range(1, days + 1)]
    shown = min(days, (today - month_start).days + 1) if today >= month_start else 0
    running, total = [], 0
    for count in counts[:shown]:
        total += count
        running.append(total)
    top_value = max(target, total, max(counts, default=0), 1)
    top_value = int(top_value * 1.1) + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / days

    def x(day_index: float) -> float:
        return LEFT + day_index * step

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top_value)

    parts = [
        f'<svg class="month-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(labels.title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(labels.title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        value = round(target * fraction) if target else round(top_value * fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{LEFT - 8}" y="{y(value) + 5:.1f}" text-anchor="end">{value}</text>'
        )
    bar_w = max(step * 0.6, 1)
    for index, count in enumerate(counts[:shown]):
        left = x(index) + (step - bar_w) / 2
        open_space = count - booked[index]
        if open_space:
            parts.append(
                f'<rect class="day" x="{left:.1f}" y="{y(open_space):.1f}" '
                f'width="{bar_w:.1f}" height="{y(0) - y(open_space):.1f}"/>'
            )
        if booked[index]:
            parts.append(
                f'<rect class="day-booked" x="{left:.1f}" y="{y(count):.1f}" '
                f'width="{bar_w:.1f}" height="{y(open_space) - y(count):.1f}"/>'
            )
    for day in range(1, days + 1):
        if day == 1 or day % 5 == 0:
            parts.append(
                f'<text class="axis" x="{x(day - 0.5):.1f}" y="{HEIGHT - 8}" text-anchor="middle">{day}</text>'
            )
    if target:
        parts.append(
            f'<line class="pace" x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(days):.1f}" y2="{y(target):.1f}"/>'
            f'<text class="pace-label" x="{x(days) - 4:.1f}" y="{y(target) - 8:.1f}" text-anchor="end">'
            f"{escape(labels.target)}</text>"
        )
    if running:
        points = " ".join(f"{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(running))
        parts.append(f'<polyline class="total" points="{x(0):.1f},{y(0):.1f} {points}"/>')
        end_x, end_y = x(len(running)), y(running[-1])
        anchor = "end" if len(running) > days * 0.75 else "start"
        offset = -10 if anchor == "end" else 10
        parts.append(
            f'<circle class="total-dot" cx="{end_x:.1f}" cy="{end_y:.1f}" r="6"/>'
            f'<text class="total-label" x="{end_x + offset:.1f}" y="{end_y - 12:.1f}" text-anchor="{anchor}">'
            f"{escape(labels.total)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
