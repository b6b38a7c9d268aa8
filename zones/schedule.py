"""When a zone is enforced: daily windows such as ``00:00-24:00`` or ``22:00-06:00,12:00-13:30``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _minute(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise ValueError(f"invalid time in schedule window {text!r}")
    return h * 60 + m


@dataclass(frozen=True)
class Schedule:
    """Daily windows in minutes since midnight; a window whose end is before its start runs overnight."""

    windows: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str) -> Schedule:
        windows = []
        for part in text.split(","):
            match = _WINDOW.match(part)
            if not match:
                raise ValueError(f"schedule window {part.strip()!r} is not HH:MM-HH:MM")
            start = _minute(match[1], match[2], part)
            end = _minute(match[3], match[4], part)
            if start == end:
                raise ValueError(f"schedule window {part.strip()!r} is empty")
            windows.append((start, end))
        return cls(tuple(windows))

    def is_active(self, at: time) -> bool:
        minute = at.hour * 60 + at.minute + at.second / 60
        for start, end in self.windows:
            if start < end and start <= minute < end:
                return True
            if start > end and (minute >= start or minute < end):
                return True
        return False
