"""Tiny hand-written SVG charts for the self-contained HTML report.

No JavaScript, no external fonts or files: each function returns an <svg>
string that is inlined into the page. Inputs are plain Python lists, so the
charts are easy to test and the report module stays about the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#64748b", "#db2777"]
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""
AXIS = "#94a3b8"
GRID = "#e2e8f0"
TEXT = "#334155"

Fmt = Callable[[float], str]


def pct(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v * 100:.{digits}f}%"


def money(v: float | None, symbol: str = "$", digits: int = 0) -> str:
    if v is None:
        return "–"
    s = f"{abs(v):,.{digits}f}"
    return f"-{symbol}{s}" if v < 0 else f"{symbol}{s}"


def number(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about n intervals)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        # One value (a tiny shop's single month): show it against zero rather
        # than as the floor of an axis that climbs past it (100% -> 200%).
        lo, hi = (0.0, lo) if lo > 0 else (lo, lo + (abs(lo) or 1.0))
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if step >= raw:
            break
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    k = int(round((end - start) / step))
    return [round(start + i * step, 10) for i in range(k + 1)]


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" {FONT} font-size="12" fill="{TEXT}">'
    )


def _y_grid(ticks, sy, left: float, pw: float, y_fmt) -> list[str]:
    """Horizontal grid lines with their value labels, shared by line and bar charts."""
    out = []
    for t in ticks:
        y = sy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(y_fmt(t))}</text>')
    return out

def legend(items: Sequence[tuple[str, str]], x: float, y: float, dashed: Sequence[bool] | None = None) -> str:
    out, cx = [], x
    for i, (label, color) in enumerate(items):
        dash = ' stroke-dasharray="5 3"' if dashed and dashed[i] else ""
        out.append(
            f'<line x1="{cx}" y1="{y - 4}" x2="{cx + 18}" y2="{y - 4}" stroke="{color}" stroke-width="3"{dash}/>'
            f'<text x="{cx + 24}" y="{y}">{escape(label)}</text>'
        )
        cx += 24 + 7.2 * len(label) + 20
    return "".join(out)


def _x_label_every(n: int, room: float, label_px: float = 48) -> int:
    return max(1, math.ceil(n * label_px / max(room, 1)))


def _show_x_label(i: int, n: int, every: int) -> bool:
    """Label every `every`-th category counted from the LAST one (the latest month is always labelled)."""
    return (n - 1 - i) % every == 0


def legend_width(items: Sequence[tuple[str, str]]) -> float:
    return sum(24 + 7.2 * len(label) + 20 for label, _ in items) - 20


def legend_right(items: Sequence[tuple[str, str]], right_x: float, y: float) -> str:
    return legend(items, right_x - legend_width(items), y)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_fmt: Fmt,
    *,
    y_min: float | None = 0.0,
    y_max: float | None = None,
    width: int = 620,
    height: int = 280,
    y_title: str = "",
    open_last: bool = False,
    label: str = "line chart",
) -> str:
    """Lines over categorical x (months). `open_last` draws the last point hollow (partial month)."""
    left, right, top, bottom = 64, 16, 34, 44
    pw, ph = width - left - right, height - top - bottom
    vals = [v for _, ys in series for v in ys if v is not None]
    lo = min(vals) if vals else 0.0
    hi = max(vals) if vals else 1.0
    if y_min is not None:
        lo = min(lo, y_min)
    if y_max is not None:
        hi = max(hi, y_max)
    ticks = nice_ticks(lo, hi)
    t0, t1 = ticks[0], ticks[-1]
    n = len(x_labels)

    def sx(i: int) -> float:
        return left + (pw * (i + 0.5) / n if n else 0)

    def sy(v: float) -> float:
        return top + ph - (v - t0) / ((t1 - t0) or 1) * ph

    out = [_svg_open(width, height, label)]
    out += _y_grid(ticks, sy, left, pw, y_fmt)
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="{AXIS}"/>')
    every = _x_label_every(n, pw)
    for i, xl in enumerate(x_labels):
        if _show_x_label(i, n, every):
            out.append(f'<text x="{sx(i):.1f}" y="{top + ph + 18}" text-anchor="middle">{escape(xl)}</text>')
    if y_title:
        out.append(f'<text x="{left - 56}" y="{top - 20}" font-size="11">{escape(y_title)}</text>')
    for k, (name, ys) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        path, pen = [], False
        for i, v in enumerate(ys):
            if v is None:
                pen = False
                continue
            path.append(f'{"L" if pen else "M"}{sx(i):.1f},{sy(v):.1f}')
            pen = True
        if path:
            out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2.5" stroke-linejoin="round"/>')
        for i, v in enumerate(ys):
            if v is None:
                continue
            hollow = open_last and i == len(ys) - 1
            fill = "#fff" if hollow else color
            out.append(
                f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="3.2" fill="{fill}" stroke="{color}" stroke-width="1.5">'
                f"<title>{escape(name)} {escape(x_labels[i])}: {escape(y_fmt(v))}</title></circle>"
            )
    if len(series) > 1:
        out.append(legend_right([(name, PALETTE[k % len(PALETTE)]) for k, (name, _) in enumerate(series)], left + pw, 14))
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    categories: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float | None]]],
    y_fmt: Fmt,
    *,
    width: int = 620,
    height: int = 280,
    y_title: str = "",
    value_labels: bool = True,
    label: str = "bar chart",
    colors: Sequence[str] | None = None,
) -> str:
    """Vertical grouped bars: one cluster per category, one bar per group."""
    colors = list(colors or PALETTE)
    left, right, top, bottom = 64, 16, 34, 44
    pw, ph = width - left - right, height - top - bottom
    vals = [v for _, ys in groups for v in ys if v is not None]
    ticks = nice_ticks(min([0.0, *vals]), max([0.0, *vals]) * 1.08 or 1.0)
    t0, t1 = ticks[0], ticks[-1]
    n, g = len(categories), max(len(groups), 1)

    def sy(v: float) -> float:
        return top + ph - (v - t0) / ((t1 - t0) or 1) * ph

    out = [_svg_open(width, height, label)]
    out += _y_grid(ticks, sy, left, pw, y_fmt)
    if y_title:
        out.append(f'<text x="{left - 56}" y="{top - 20}" font-size="11">{escape(y_title)}</text>')
    slot = pw / max(n, 1)
    bw = min(48.0, slot * 0.8 / g)
    every = _x_label_every(n, pw, 56)
    for i, cat in enumerate(categories):
        x0 = left + slot * i + (slot - bw * g) / 2
        for k, (name, ys) in enumerate(groups):
            v = ys[i]
            if v is None:
                continue
            y, y0 = sy(max(v, 0)), sy(min(v, 0))
            color = colors[k % len(colors)]
            out.append(
                f'<rect x="{x0 + k * bw:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{max(y0 - y, 0.5):.1f}" fill="{color}" rx="2">'
                f"<title>{escape(name)} – {escape(cat)}: {escape(y_fmt(v))}</title></rect>"
            )
            if value_labels and bw >= 26:
                out.append(
                    f'<text x="{x0 + k * bw + (bw - 2) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">{escape(y_fmt(v))}</text>'
                )
        if _show_x_label(i, n, every):
            out.append(f'<text x="{left + slot * (i + 0.5):.1f}" y="{top + ph + 18}" text-anchor="middle">{escape(cat)}</text>')
    out.append(f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + pw}" y2="{sy(0):.1f}" stroke="{AXIS}"/>')
    if len(groups) > 1:
        out.append(legend_right([(name, colors[k % len(colors)]) for k, (name, _) in enumerate(groups)], left + pw, 14))
    out.append("</svg>")
    return "".join(out)


def hbar_chart(
    rows: Sequence[tuple[str, float | None, str]],
    x_fmt: Fmt,
    *,
    x_max: float | None = None,
    width: int = 620,
    row_h: int = 26,
    label_w: int = 170,
    label: str = "bar chart",
    color: str = PALETTE[0],
    section_breaks: Sequence[int] = (),
    right: int = 120,
) -> str:
    """Horizontal bars: (label, value, note) per row; the note is printed after the value
    (`right`: room for value and note) and in the bar's tooltip."""
    top, bottom = 8, 8
    # Room for the longest value and note after a full-length bar (about 6.5 px a character).
    texts = [x_fmt(v) + (f"  {note}" if note else "") for _, v, note in rows if v is not None]
    right = max(right, max((round(len(t) * 6.5) + 12 for t in texts), default=0))
    height = top + bottom + row_h * len(rows) + 10 * len(section_breaks)
    pw = width - label_w - right
    vals = [v for _, v, _ in rows if v is not None]
    hi = x_max if x_max is not None else (max(vals) if vals else 1.0) or 1.0
    out = [_svg_open(width, height, label)]
    y = top
    for i, (name, v, note) in enumerate(rows):
        if i in section_breaks:
            out.append(f'<line x1="8" y1="{y + 4}" x2="{width - 8}" y2="{y + 4}" stroke="{GRID}"/>')
            y += 10
        out.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">{escape(name)}</text>')
        if v is not None:
            w = max(pw * v / hi, 1)
            out.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" rx="2">'
                f"<title>{escape(name)}: {escape(x_fmt(v))}{escape(' ' + note if note else '')}</title></rect>"
            )
            txt = x_fmt(v) + (f"  {note}" if note else "")
            out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">{escape(txt)}</text>')
        y += row_h
    out.append("</svg>")
    return "".join(out)


def _mix(c1: str, c2: str, t: float) -> str:
    a = [int(c1[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(c2[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    fmt: Fmt,
    *,
    v_max: float,
    cell_w: int = 38,
    cell_h: int = 22,
    label_w: int = 72,
    col_title: str = "",
    label: str = "heatmap",
    low: str = "#eff6ff",
    high: str = "#1e3a8a",
) -> str:
    """A colour grid; None cells are left blank (e.g. months not reached yet)."""
    top = 46
    width = label_w + cell_w * len(col_labels) + 10
    height = top + cell_h * len(row_labels) + 40
    out = [_svg_open(width, height, label)]
    if col_title:
        out.append(f'<text x="{label_w}" y="14" font-size="11">{escape(col_title)}</text>')
    for j, cl in enumerate(col_labels):
        out.append(f'<text x="{label_w + cell_w * (j + 0.5):.1f}" y="{top - 8}" text-anchor="middle" font-size="11">{escape(cl)}</text>')
    for i, rl in enumerate(row_labels):
        y = top + cell_h * i
        out.append(f'<text x="{label_w - 8}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end" font-size="11">{escape(rl)}</text>')
        for j, v in enumerate(values[i]):
            if v is None:
                continue
            t = max(0.0, min(1.0, v / v_max)) if v_max else 0.0
            fill = _mix(low, high, t ** 0.75)
            ink = "#fff" if t > 0.5 else TEXT
            x = label_w + cell_w * j
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" fill="{fill}">'
                f"<title>{escape(rl)}, {escape(col_labels[j])}: {escape(fmt(v))}</title></rect>"
                f'<text x="{x + (cell_w - 1) / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="middle" font-size="10" fill="{ink}">{escape(fmt(v))}</text>'
            )
    # colour scale
    ly = top + cell_h * len(row_labels) + 16
    for k in range(11):
        t = k / 10
        out.append(f'<rect x="{label_w + k * 24}" y="{ly}" width="24" height="10" fill="{_mix(low, high, t ** 0.75)}"/>')
    out.append(f'<text x="{label_w}" y="{ly + 24}" font-size="10">{escape(fmt(0))}</text>')
    out.append(f'<text x="{label_w + 264}" y="{ly + 24}" font-size="10" text-anchor="end">{escape(fmt(v_max))}+</text>')
    out.append("</svg>")
    return "".join(out)
