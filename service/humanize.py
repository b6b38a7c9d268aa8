"""Times and durations as people read them on pages, alerts and reports: "1 分 37 秒", never "1.62 分钟"."""

from __future__ import annotations

import math


def duration_zh(seconds: float | None) -> str:
    """Whole units, largest first, at most two: "8 秒", "1 分 37 秒", "57 小时 44 分"; "—" for none.

    Rounded to the second; a zero part is left out ("15 分"). Hours are not folded into days: a week's total
    compares at a glance with a day's ("57 小时" next to "6 小时")."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    left = max(0, round(seconds))
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if hours:
        return f"{hours} 小时" + (f" {minutes} 分" if minutes else "")
    if minutes:
        return f"{minutes} 分" + (f" {secs} 秒" if secs else "")
    return f"{secs} 秒"


def minutes_zh(minutes: float | None) -> str:
    """A duration given in minutes (hotspot and report tallies), as ``duration_zh`` says it."""
    return duration_zh(None if minutes is None else minutes * 60)
