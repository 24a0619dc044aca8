"""Small server-made SVG plots (bars and lines); every page shows the numbers in a table beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = {"model": "#1f6fb2", "rule": "#c0392b", "exploration": "#7f8c8d", "mandatory": "#8e44ad",
           "green": "#2e8b57", "yellow": "#d4a017", "blue": "#2874a6", "red": "#c0392b"}
CYCLE = ("#1f6fb2", "#e67e22", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d")
W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 240, 48, 12, 14, 44


def _colour(name: str, i: int) -> str:
    return PALETTE.get(name, CYCLE[i % len(CYCLE)])


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5, 10):
        for mag in range(-3, 12):
            top = step * 10 ** mag
            if top >= v:
                return top
    return v


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v * 100:.0f}%"
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    return f"{v:g}" if v < 10 else f"{v:.0f}"


def _frame(title: str, y_max: float, percent: bool, labels: Sequence[str], x_of, every: int) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    plot_h = H - TOP - BOTTOM
    for k in range(5):
        v = y_max * k / 4
        y = TOP + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(v, percent)}</text>')
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(f'<text x="{x_of(i):.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="tick">'
                         f'{escape(str(label))}</text>')
    return parts


def _legend(names: Sequence[str], display: dict[str, str] | None) -> str:
    out, x = [], LEFT
    for i, n in enumerate(names):
        text = escape((display or {}).get(n, n))
        out.append(f'<rect x="{x}" y="{H - 16}" width="10" height="10" fill="{_colour(n, i)}"/>'
                   f'<text x="{x + 14}" y="{H - 7}" class="tick">{text}</text>')
        x += 24 + 7 * len(text)
    return "".join(out)


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *, percent: bool = False,
              reference: float | None = None, display: dict[str, str] | None = None) -> Markup:
    """Grouped bars, one group per label and one bar per series; ``reference`` draws a dashed level."""
    values = [v for s in series.values() for v in s if v is not None]
    y_max = _nice_max(max([*values, reference or 0, 0]) or 1)
    n, k = max(len(labels), 1), max(len(series), 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    group = plot_w / n
    bar = max(1.0, group * 0.8 / k)
    parts = _frame(title, y_max, percent, labels, lambda i: LEFT + group * (i + 0.5), max(1, n // 12))
    for j, (name, vals) in enumerate(series.items()):
        for i, v in enumerate(vals):
            if v is None:
                continue
            h = plot_h * v / y_max
            x = LEFT + group * i + group * 0.1 + bar * j
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{_colour(name, j)}"><title>{escape(str(labels[i]))}: {_fmt(v, percent)}</title>'
                         f'</rect>')
    if reference is not None:
        y = TOP + plot_h - plot_h * reference / y_max
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="reference"/>')
    if len(series) > 1 or display:
        parts.append(_legend(list(series), display))
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
               percent: bool = False, display: dict[str, str] | None = None) -> Markup:
    """One line per series over the labels; ``None`` leaves a gap (no data that period)."""
    values = [v for s in series.values() for v in s if v is not None]
    y_max = _nice_max(max([*values, 0]) or 1)
    n = max(len(labels), 2)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x_of(i: int) -> float:
        return LEFT + plot_w * i / (n - 1)

    parts = _frame(title, y_max, percent, labels, x_of, max(1, n // 6))
    for j, (name, vals) in enumerate(series.items()):
        colour = _colour(name, j)
        run: list[str] = []
        for i, v in enumerate([*vals, None]):
            if v is not None:
                y = TOP + plot_h - plot_h * v / y_max
                run.append(f"{x_of(i):.1f},{y:.1f}")
                parts.append(f'<circle cx="{x_of(i):.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
                run = []
    parts.append(_legend(list(series), display))
    parts.append("</svg>")
    return Markup("".join(parts))
