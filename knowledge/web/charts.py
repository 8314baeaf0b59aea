"""Charts drawn on the server as SVG: no script, readable by screen readers (each has a
title and a description, and the page puts the same figures in a table beside it)."""

from __future__ import annotations

import html
from collections.abc import Sequence

# GOV.UK palette: blue for the first series, dark grey for the second, text in near black.
BLUE = "#1d70b8"
GREY = "#505a5f"
TEXT = "#0b0c0c"
FONT = 'font-family="Arial, Helvetica, sans-serif" font-size="14"'


def _nice_top(largest: float) -> float:
    """The axis end: 1, 2 or 5 times a power of ten, at or above the largest value."""
    if largest <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= largest:
        step *= 10
    while step > largest * 10:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= largest:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def bars(
    ident: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, float]],
    *,
    unit: str = "",
) -> str:
    """A horizontal bar chart: one labelled bar per row, its value at the end."""
    esc = html.escape
    label_width, bar_width, row_height = 220, 300, 28
    height = max(1, len(rows)) * row_height + 10
    top = _nice_top(max((value for _, value in rows), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {label_width + bar_width + 80} {height}" '
        f'aria-labelledby="{esc(ident)}-title {esc(ident)}-desc">',
        f'<title id="{esc(ident)}-title">{esc(title)}</title>',
        f'<desc id="{esc(ident)}-desc">{esc(description)}</desc>',
    ]
    if not rows:
        parts.append(f'<text x="0" y="20" {FONT} fill="{TEXT}">Nothing to show yet.</text>')
    for n, (label, value) in enumerate(rows):
        y = 5 + n * row_height
        width = bar_width * value / top
        shown = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 18}" text-anchor="end" {FONT} '
            f'fill="{TEXT}">{esc(shown)}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{width:.1f}" height="18" fill="{BLUE}"/>'
        )
        parts.append(
            f'<text x="{label_width + width + 6:.1f}" y="{y + 18}" {FONT} '
            f'fill="{TEXT}">{esc(_number(value))}{esc(unit)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def columns(
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
) -> str:
    """Grouped columns: one group per label (a week, say), one column per series, with a
    key. Values are printed above their columns."""
    esc = html.escape
    colours = (BLUE, GREY)
    group, gap, plot_height, left, bottom = 48, 12, 180, 36, 40
    width = left + len(labels) * (group + gap) + 10
    height = plot_height + bottom + 34
    top = _nice_top(max((v for _, values in series for v in values), default=0))
    column = (group - 4) / max(1, len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{esc(ident)}-title {esc(ident)}-desc">',
        f'<title id="{esc(ident)}-title">{esc(title)}</title>',
        f'<desc id="{esc(ident)}-desc">{esc(description)}</desc>',
    ]
    base = 30 + plot_height
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="{TEXT}"/>')
    for n, (name, _) in enumerate(series):  # the key
        x = left + n * 150
        parts.append(
            f'<rect x="{x}" y="4" width="14" height="14" fill="{colours[n % len(colours)]}"/>'
        )
        parts.append(f'<text x="{x + 20}" y="16" {FONT} fill="{TEXT}">{esc(name)}</text>')
    for g, label in enumerate(labels):
        x0 = left + g * (group + gap)
        for s, (_, values) in enumerate(series):
            value = values[g]
            h = plot_height * value / top
            left_edge = x0 + s * column
            colour = colours[s % len(colours)]
            parts.append(
                f'<rect x="{left_edge:.1f}" y="{base - h:.1f}" width="{column - 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
            if value:
                parts.append(
                    f'<text x="{left_edge + (column - 2) / 2:.1f}" y="{base - h - 4:.1f}" '
                    f'text-anchor="middle" font-family="Arial, Helvetica, sans-serif" '
                    f'font-size="11" fill="{TEXT}">{esc(_number(value))}</text>'
                )
        parts.append(
            f'<text x="{x0 + group / 2:.1f}" y="{base + 18}" text-anchor="middle" '
            f'font-family="Arial, Helvetica, sans-serif" font-size="11" '
            f'fill="{TEXT}">{esc(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
