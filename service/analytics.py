"""Pure helpers for hotspots, repeat offenders and reports: no database, every time passed in."""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Generic, TypeVar

T = TypeVar("T")


def rebound_flags(
    items: Sequence[tuple[Hashable, datetime, datetime | None]], window: timedelta
) -> list[bool]:
    """For each ``(zone key, started_at, ended_at)``: did it start within ``window`` after another violation in
    the same zone had ended (the lane was cleared, and it was blocked again)?"""
    ends: dict[Hashable, list[datetime]] = defaultdict(list)
    for key, _, ended in items:
        if ended is not None:
            ends[key].append(ended)
    for values in ends.values():
        values.sort()
    flags = []
    for key, started, _ in items:
        zone_ends = ends.get(key, [])
        # the latest end strictly before this start
        i = bisect.bisect_left(zone_ends, started) - 1
        flags.append(i >= 0 and started - zone_ends[i] <= window)
    return flags


def split_by_day(start: datetime, end: datetime, tz: tzinfo) -> dict[date, float]:
    """Seconds of [start, end) on each local calendar day of ``tz``."""
    out: dict[date, float] = {}
    if end <= start:
        return out
    cursor = start.astimezone(tz)
    end = end.astimezone(tz)
    while cursor < end:
        day = cursor.date()
        next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
        stop = min(end, next_midnight)
        out[day] = out.get(day, 0.0) + (stop - cursor).total_seconds()
        cursor = stop
    return out


def days_between(since: datetime, until: datetime, tz: tzinfo) -> list[date]:
    """Local days of ``tz`` that [since, until) touches."""
    first = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)] if last >= first else []


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


@dataclass
class Offender(Generic[T]):
    plate: str
    items: list[T] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)


def repeat_offenders(
    items: Iterable[T], plate: Callable[[T], str | None], at: Callable[[T], datetime], *,
    min_count: int, since: datetime, until: datetime,
) -> list[Offender[T]]:
    """Plates with at least ``min_count`` items in [since, until), most items first (then the plate); each
    plate's items oldest first."""
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        text = plate(item)
        if text and since <= at(item) < until:
            groups[text].append(item)
    found = [Offender(p, sorted(g, key=at)) for p, g in groups.items() if len(g) >= min_count]
    return sorted(found, key=lambda o: (-o.count, o.plate))


@dataclass
class Tally:
    """Violations, blocked seconds, rebounds and escalations of one site, camera or zone."""

    violations: int = 0
    blocked_s: float = 0.0
    rebounds: int = 0
    escalations: int = 0

    def add(self, blocked_s: float, rebound: bool, escalated: bool) -> None:
        self.violations += 1
        self.blocked_s += blocked_s
        self.rebounds += int(rebound)
        self.escalations += int(escalated)

    @property
    def blocked_minutes(self) -> float:
        return self.blocked_s / 60.0


def ranked(tallies: dict[T, Tally]) -> list[tuple[T, Tally]]:
    """Most violations first, then most blocked time, then most rebounds."""
    return sorted(tallies.items(), key=lambda kv: (-kv[1].violations, -kv[1].blocked_s, -kv[1].rebounds, str(kv[0])))
