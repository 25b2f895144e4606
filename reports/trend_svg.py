"""The trend chart: one framework's score over the scans, as inline SVG markup.

Printed reports are often black and white, so the chart uses no colour: a black line with
a marker and its value at each scan, light grey grid lines, both axes labelled, and a
scan missing from the series (a host not in it) leaves a gap rather than a line through
it. Every text is escaped here: the chart is built as a string, not by a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 40, 56
TICKS = (0, 25, 50, 75, 100)


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span / 2 if n == 1 else span * i / (n - 1))


def _y(score: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - max(0.0, min(100.0, score)) / 100)


def _segments(values: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """Runs of two or more consecutive known values, as (x, y) points (a lone value is
    only its marker)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append((_x(i, len(values)), _y(v)))
    return [r for r in runs if len(r) > 1]


def _axes(labels: Sequence[str], x_label: str, y_label: str) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = []
    for tick in TICKS:
        y = _y(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ccc" '
            f'stroke-dasharray="3 3"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#000"/>'
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#000"/>'
    )
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{_x(i, len(labels)):.1f}" y="{bottom + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{(LEFT + right) / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{(TOP + bottom) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + bottom) / 2:.1f})">{escape(y_label)}</text>'
    )
    return parts


def score_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    x_label: str = "scan",
    y_label: str = "score (%)",
) -> str:
    """An ``<svg>`` element: ``values[i]`` (0..100, or None) above ``labels[i]``."""
    if len(labels) != len(values):
        raise ValueError("one label per value")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11" fill="#000">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-weight="bold">{escape(title)}</text>',
        *_axes(labels, x_label, y_label),
    ]
    for run in _segments(values):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        parts.append(f'<polyline points="{points}" fill="none" stroke="#000" stroke-width="2"/>')
    for i, v in enumerate(values):
        if v is not None:
            x, y = _x(i, len(values)), _y(v)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#fff" stroke="#000"/>'
                f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">{v:.1f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
