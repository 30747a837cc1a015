"""Server-drawn SVG charts (no script): every mark has a <title> tooltip, numbers beside it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
WIDTH, HEIGHT, PAD = 720, 220, 36


def color(index: int) -> str:
    """The palette's colour for series `index`."""
    return PALETTE[index % len(PALETTE)]


def stacked_columns(per_day: dict[str, Counter[str]], label: str) -> Markup:
    """Columns per day, stacked by category, with a legend."""
    names = sorted({name for counts in per_day.values() for name in counts})
    top = max((sum(c.values()) for c in per_day.values()), default=0) or 1
    step = (WIDTH - 2 * PAD) / max(1, len(per_day))
    marks: list[str] = []
    for i, (day, counts) in enumerate(per_day.items()):
        x, y = PAD + i * step, float(HEIGHT - PAD)
        for j, name in enumerate(names):
            n = counts.get(name, 0)
            if not n:
                continue
            h = n / top * (HEIGHT - 2 * PAD)
            y -= h
            marks.append(_rect(x + 1, y, step - 2, h, color(j), f"{day} {name}: {n}"))
        if i % max(1, len(per_day) // 7) == 0:
            marks.append(_text(x + step / 2, HEIGHT - PAD + 14, day[5:], "middle"))
    marks.append(_text(PAD - 4, PAD, str(top), "end"))
    legend = [(name, color(j)) for j, name in enumerate(names)]
    return _svg(label, marks, legend)


def bars(rows: Sequence[tuple[str, float, str]], label: str, *, top: float | None = None) -> Markup:
    """Horizontal bars: (label, value, value as text), the text beside each bar."""
    top = top or max((value for _, value, _ in rows), default=0) or 1
    row_h = 22
    height = max(row_h * len(rows) + 10, 40)
    left, right = 220, 230  # room for the numbers beside the longest bar
    marks: list[str] = []
    for i, (name, value, shown) in enumerate(rows):
        y = 5 + i * row_h
        w = max(0.0, value / top * (WIDTH - left - right))
        marks.append(_text(left - 6, y + 15, name, "end"))
        marks.append(_rect(left, y + 3, w, row_h - 6, color(i), f"{name}: {shown}"))
        marks.append(_text(left + w + 6, y + 15, shown, "start"))
    if not rows:
        marks.append(_text(WIDTH / 2, 25, "no data yet", "middle"))
    return _svg(label, marks, [], height=height)


def histogram(bins: Sequence[int], threshold: float, label: str) -> Markup:
    """Confidence in tenths, the review threshold drawn as a line."""
    top = max(bins, default=0) or 1
    step = (WIDTH - 2 * PAD) / len(bins)
    marks: list[str] = []
    for i, n in enumerate(bins):
        h = n / top * (HEIGHT - 2 * PAD)
        low, high = i / len(bins), (i + 1) / len(bins)
        fill = color(0) if low >= threshold else color(2)
        marks.append(
            _rect(
                PAD + i * step + 1,
                HEIGHT - PAD - h,
                step - 2,
                h,
                fill,
                f"{low:.1f} to {high:.1f}: {n}",
            )
        )
        marks.append(_text(PAD + i * step + step / 2, HEIGHT - PAD - h - 4, str(n), "middle"))
        marks.append(_text(PAD + i * step, HEIGHT - PAD + 14, f"{low:.1f}", "middle"))
    x = PAD + threshold * (WIDTH - 2 * PAD)
    marks.append(
        f'<line x1="{x:.1f}" y1="{PAD - 10}" x2="{x:.1f}" y2="{HEIGHT - PAD}" stroke="#222" '
        f'stroke-dasharray="4 3"><title>review threshold {threshold:.2f}</title></line>'
    )
    near_edge = x > WIDTH - 120
    marks.append(
        _text(x + (-4 if near_edge else 4), PAD - 2, f"threshold {threshold:.2f}",
              "end" if near_edge else "start")
    )  # fmt: skip
    legend = [("at or above the threshold", color(0)), ("below: sent to review", color(2))]
    return _svg(label, marks, legend)


def _svg(
    label: str, marks: list[str], legend: list[tuple[str, str]], *, height: int = HEIGHT
) -> Markup:
    per_row, rows = 5, (len(legend) + 4) // 5
    keys = "".join(
        f'<rect x="{PAD + i % per_row * 130}" y="{height + 6 + i // per_row * 18}" width="10" '
        f'height="10" fill="{fill}"/>'
        + _text(PAD + i % per_row * 130 + 14, height + 15 + i // per_row * 18, name, "start")
        for i, (name, fill) in enumerate(legend)
    )
    total = height + rows * 18 + (6 if legend else 0)
    body = "".join(marks) + keys
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {total}"'
        f' width="{WIDTH}" height="{total}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}">'
        f"<title>{escape(title)}</title></rect>"
    )


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11">{escape(text)}</text>'
    )
