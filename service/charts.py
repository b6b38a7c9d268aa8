"""Charts for the hotspot page and the weekly reports, drawn with matplotlib in the CJK font so Chinese renders.

Only the object-oriented API (``Figure`` + an Agg/SVG canvas) is used: no pyplot state, so charts can be drawn
from request threads. Every text gets the font from ``service.fonts.find_cjk_font`` explicitly; matplotlib
never looks for (let alone downloads) another one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from service.fonts import find_cjk_font

BAR = "#c0392b"
BAR_LIGHT = "#e59866"
GRID = "#dddddd"
STATUS_COLOURS = {
    "open": "#f39c12", "cleared_in_time": "#27ae60", "cleared_late": "#e67e22", "escalated": "#c0392b",
    "confirmed": "#8e44ad", "rejected": "#7f8c8d", "ended": "#95a5a6",
}


@lru_cache(maxsize=8)
def _font_path(explicit: str | None) -> Path:
    return find_cjk_font(explicit)


def font(size: float = 10, explicit: str | Path | None = None) -> FontProperties:
    return FontProperties(fname=str(_font_path(str(explicit) if explicit else None)), size=size)


def _style(fig: Figure, ax, fp: FontProperties) -> None:  # noqa: ANN001 - an Axes
    for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        label.set_fontproperties(fp)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_axisbelow(True)
    fig.tight_layout()


def _encode(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "svg":
        FigureCanvasSVG(fig).print_svg(buffer)
    elif fmt == "png":
        FigureCanvasAgg(fig).print_png(buffer)
    else:
        raise ValueError(f"unknown chart format {fmt!r} (png or svg)")
    return buffer.getvalue()


def blocked_minutes_chart(
    daily: Sequence[tuple[date, float]], *, title: str = "每日占用时长（分钟）", fmt: str = "png",
    width: float = 8.0, height: float = 3.2, dpi: int = 110, font_path: str | Path | None = None,
) -> bytes:
    """Bars of blocked minutes per day."""
    fp, small = font(11, font_path), font(8.5, font_path)
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_subplot()
    labels = [f"{d.month}/{d.day}" for d, _ in daily]
    values = [round(m, 1) for _, m in daily]
    bars = ax.bar(range(len(values)), values, color=BAR, width=0.7)
    ax.set_xticks(range(len(values)), labels)
    if len(labels) > 16:  # a month: label every few days
        step = max(1, len(labels) // 12)
        for i, label in enumerate(ax.get_xticklabels()):
            label.set_visible(i % step == 0)
    ax.set_title(title, fontproperties=fp)
    ax.set_ylabel("分钟", fontproperties=small)
    ax.yaxis.grid(True, color=GRID)
    top = max(values, default=0)
    ax.set_ylim(0, top * 1.18 if top > 0 else 1)
    if len(values) <= 16:
        for bar, value in zip(bars, values):
            if value > 0:
                ax.annotate(f"{value:g}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                            fontproperties=small, xytext=(0, 2), textcoords="offset points")
    if not any(values):
        ax.text(0.5, 0.5, "本期无占用", transform=ax.transAxes, ha="center", va="center", fontproperties=fp,
                color="#888888")
    _style(fig, ax, small)
    return _encode(fig, fmt)


def ranking_chart(
    rows: Sequence[tuple[str, int, float]], *, title: str = "热点区域", fmt: str = "png",
    width: float = 8.0, dpi: int = 110, font_path: str | Path | None = None,
) -> bytes:
    """Horizontal bars of (label, violations, blocked minutes), top first: violations, and minutes as text."""
    fp, small = font(11, font_path), font(8.5, font_path)
    rows = list(rows)[:10]
    fig = Figure(figsize=(width, 0.9 + 0.38 * max(len(rows), 1)), dpi=dpi)
    ax = fig.add_subplot()
    labels = [r[0] for r in rows][::-1]
    counts = [r[1] for r in rows][::-1]
    minutes = [r[2] for r in rows][::-1]
    bars = ax.barh(range(len(rows)), counts, color=BAR_LIGHT, height=0.6)
    ax.set_yticks(range(len(rows)), labels)
    for bar, count, mins in zip(bars, counts, minutes):
        ax.annotate(f"{count} 起 · {mins:.0f} 分钟", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    va="center", ha="left", xytext=(3, 0), textcoords="offset points", fontproperties=small)
    ax.set_xlim(0, max(counts, default=0) * 1.45 + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontproperties=fp)
    ax.set_xlabel("违停次数", fontproperties=small)
    ax.xaxis.grid(True, color=GRID)
    if not rows:
        ax.text(0.5, 0.5, "本期无违停", transform=ax.transAxes, ha="center", va="center", fontproperties=fp,
                color="#888888")
    _style(fig, ax, small)
    return _encode(fig, fmt)


def status_chart(
    counts: Sequence[tuple[str, str, int]], *, title: str = "处置结果", fmt: str = "png",
    width: float = 8.0, dpi: int = 110, font_path: str | Path | None = None,
) -> bytes:
    """One horizontal bar per status: (status key, Chinese label, count)."""
    fp, small = font(11, font_path), font(8.5, font_path)
    counts = list(counts)
    fig = Figure(figsize=(width, 0.9 + 0.36 * max(len(counts), 1)), dpi=dpi)
    ax = fig.add_subplot()
    labels = [c[1] for c in counts][::-1]
    values = [c[2] for c in counts][::-1]
    colours = [STATUS_COLOURS.get(c[0], BAR) for c in counts][::-1]
    bars = ax.barh(range(len(counts)), values, color=colours, height=0.6)
    ax.set_yticks(range(len(counts)), labels)
    for bar, value in zip(bars, values):
        ax.annotate(str(value), (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", ha="left",
                    xytext=(3, 0), textcoords="offset points", fontproperties=small)
    ax.set_xlim(0, max(values, default=0) * 1.2 + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontproperties=fp)
    ax.xaxis.grid(True, color=GRID)
    _style(fig, ax, small)
    return _encode(fig, fmt)
