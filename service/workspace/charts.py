"""Charts drawn on the server as SVG: no script, no library, readable in print and on a projector.

Dark marks on white with each value written beside its mark, so a chart says the same in black
and white; colours are presentation attributes (the page's content security policy forbids inline
styles). Every chart has a title and an ``aria-label`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

__all__ = ["band_chart", "bar_chart", "line_chart"]

_INK = "#1f2933"
_MARKS = ("#1f4e79", "#b3541e", "#3b7d23", "#6b3fa0")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")


def _axis(x1: float, x2: float, y: float) -> str:
    return f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{_INK}"/>'


def _fmt(value: Decimal | float) -> str:
    number = float(value)
    if abs(number) >= 1_000_000:
        return f"{number / 1_000_000:,.1f}M"
    if abs(number) >= 10_000:
        return f"{number / 1000:,.0f}k"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:,.1f}".removesuffix(".0")


def bar_chart(items: Sequence[tuple[str, Decimal]], *, title: str, width: int = 520) -> Markup:
    """Vertical bars, one per item, each labelled below and its value written above."""
    height, top, bottom, left = 220, 28, 36, 8
    n = max(len(items), 1)
    slot = (width - 2 * left) / n
    peak = max((float(v) for _, v in items), default=0.0) or 1.0
    plot = height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="{_INK}">{escape(title)}</text>',
        _axis(left, width - left, height - bottom),
    ]
    for i, (label, value) in enumerate(items):
        h = max(float(value), 0.0) / peak * plot
        x = left + i * slot + slot * 0.15
        y = height - bottom - h
        mid = x + slot * 0.35
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{_MARKS[0]}">'
            f"<title>{escape(label)}: {escape(_fmt(value))}</title></rect>"
        )
        parts.append(
            f'<text x="{mid:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle" fill="{_INK}">'
            f"{escape(_fmt(value))}</text>"
        )
        parts.append(
            f'<text x="{mid:.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle" '
            f'fill="{_INK}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal | None]]],
    *,
    title: str,
    width: int = 620,
) -> Markup:
    """One line per series over ``labels`` (months), a gap where a value is missing, values at the points."""
    height, top, bottom, left, legend = 240, 28, 36, 24, 16
    values = [float(v) for _, vs in series for v in vs if v is not None]
    low, high = min(values, default=0.0), max(values, default=1.0)
    low = min(low, 0.0)
    span = (high - low) or 1.0
    n = max(len(labels), 1)
    step = (width - 2 * left) / max(n - 1, 1)
    plot = height - top - bottom - legend

    def y_of(v: float) -> float:
        return top + legend + (high - v) / span * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="{_INK}">{escape(title)}</text>',
        _axis(left, width - left, height - bottom),
    ]
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{height - bottom + 16}" font-size="10" text-anchor="middle" '
            f'fill="{_INK}">{escape(label)}</text>'
        )
    for k, (name, vs) in enumerate(series):
        colour, dash = _MARKS[k % len(_MARKS)], _DASHES[k % len(_DASHES)]
        parts.append(
            f'<text x="{left + k * 150}" y="{top + 8}" font-size="11" fill="{colour}">— {escape(name)}</text>'
        )
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
                continue
            runs[-1].append((left + i * step, y_of(float(v))))
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{y_of(float(v)) - 5:.1f}" font-size="9" '
                f'text-anchor="middle" fill="{colour}">{escape(_fmt(v))}</text>'
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                dashed = f' stroke-dasharray="{dash}"' if dash else ""
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dashed}/>'
                )
            for x, y in run:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def band_chart(
    labels: Sequence[str],
    expected: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    title: str,
    width: int = 620,
) -> Markup:
    """Expected values as bars over ``labels`` (weeks), each with its range as a whisker, values above."""
    height, top, bottom, left = 240, 28, 36, 24
    n = max(len(labels), 1)
    slot = (width - 2 * left) / n
    peak = max([*high, *expected], default=0.0) or 1.0
    plot = height - top - bottom - 12

    def y_of(v: float) -> float:
        return height - bottom - max(v, 0.0) / peak * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="{_INK}">{escape(title)}</text>',
        _axis(left, width - left, height - bottom),
    ]
    for i, (label, e, lo, hi) in enumerate(zip(labels, expected, low, high, strict=True)):
        x = left + i * slot + slot * 0.2
        mid = left + i * slot + slot / 2
        bar = height - bottom - y_of(e)
        parts.append(
            f'<rect x="{x:.1f}" y="{y_of(e):.1f}" width="{slot * 0.6:.1f}" height="{bar:.1f}" '
            f'fill="{_MARKS[0]}"><title>{escape(label)}: {escape(_fmt(e))} '
            f"(80 % band {escape(_fmt(lo))} to {escape(_fmt(hi))})</title></rect>"
        )
        parts.append(
            f'<line x1="{mid:.1f}" y1="{y_of(lo):.1f}" x2="{mid:.1f}" y2="{y_of(hi):.1f}" '
            f'stroke="{_MARKS[1]}" stroke-width="2"/>'
        )
        for edge in (lo, hi):
            parts.append(
                f'<line x1="{mid - 4:.1f}" y1="{y_of(edge):.1f}" x2="{mid + 4:.1f}" y2="{y_of(edge):.1f}" '
                f'stroke="{_MARKS[1]}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{mid:.1f}" y="{y_of(hi) - 4:.1f}" font-size="9" text-anchor="middle" fill="{_INK}">'
            f"{escape(_fmt(e))}</text>"
        )
        parts.append(
            f'<text x="{mid:.1f}" y="{height - bottom + 16}" font-size="10" text-anchor="middle" '
            f'fill="{_INK}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
