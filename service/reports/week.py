"""ISO weeks (``2026-W45``) in the report time zone, and when the scheduled report runs next. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Week:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> Week:
        """``YYYY-Www`` (ISO 8601 week); ValueError for anything else or a week the year does not have."""
        match = _WEEK.match(text.strip())
        if not match:
            raise ValueError(f"week {text!r} is not YYYY-Www, e.g. 2026-W45")
        year, week = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def of(cls, moment: datetime | date, tz: ZoneInfo | None = None) -> Week:
        """The week a moment (in ``tz``) or a day falls in."""
        day = moment.astimezone(tz).date() if isinstance(moment, datetime) else moment
        year, week, _ = day.isocalendar()
        return cls(year, week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in ``tz``."""
        start = datetime.combine(self.monday, time(), tzinfo=tz)
        return start, datetime.combine(self.monday + timedelta(days=7), time(), tzinfo=tz)

    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))

    def label(self) -> str:
        """2026年第45周（11月2日—11月8日）"""
        mon, sun = self.monday, self.sunday
        return f"{self.year}年第{self.week}周（{mon.month}月{mon.day}日—{sun.month}月{sun.day}日）"


def parse_hhmm(text: str) -> time:
    match = re.match(r"^([01]\d|2[0-3]):([0-5]\d)$", text)
    if not match:
        raise ValueError(f"time {text!r} is not HH:MM")
    return time(int(match[1]), int(match[2]))


def next_report_run(
    now: datetime, weekday: int = 4, at: str = "18:00", tz: str | ZoneInfo = "Asia/Shanghai"
) -> datetime:
    """The first ``weekday`` (0 Monday … 4 Friday … 6 Sunday) at ``at`` local time in ``tz`` strictly after ``now``.

    Returned in ``tz``. A wall time that a DST change skips or repeats is resolved the zoneinfo way (fold 0)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0..6, got {weekday}")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    clock = parse_hhmm(at)
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    for _ in range(3):
        candidate = datetime.combine(day, clock, tzinfo=zone)
        if candidate > now:
            return candidate
        day += timedelta(days=7)
    raise AssertionError("unreachable")
