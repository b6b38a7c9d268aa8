"""PKLot annotations: per-space polygons and occupancy for each timed still.

PKLot (Almeida et al., 2015) labels every parking space of a fixed camera in every frame, which makes it a
ground truth for "this place was occupied in consecutive frames at least grace_s apart".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from detector.sources import time_from_name


@dataclass(frozen=True)
class Space:
    id: str
    occupied: bool
    polygon: list[tuple[float, float]]


@dataclass(frozen=True)
class AnnotatedFrame:
    image: Path
    captured_at: datetime
    spaces: dict[str, Space]


def read_spaces(xml_path: Path) -> dict[str, Space]:
    root = ET.parse(xml_path).getroot()
    spaces = {}
    for node in root.iter("space"):
        points = [(float(p.get("x")), float(p.get("y"))) for p in node.find("contour").iter("point")]
        spaces[node.get("id")] = Space(node.get("id"), node.get("occupied") == "1", points)
    return spaces


def read_sequence(folder: Path, tz: ZoneInfo) -> list[AnnotatedFrame]:
    """A PKLot sequence folder (``frames/`` + ``bounding_boxes/``), in time order."""
    frames = []
    for xml_path in sorted((folder / "bounding_boxes").glob("*.xml")):
        images = [p for p in (folder / "frames").glob(f"{xml_path.stem}.*")]
        if not images:
            raise FileNotFoundError(f"no frame for {xml_path}")
        captured_at = time_from_name(xml_path.stem, tz)
        if captured_at is None:
            raise ValueError(f"{xml_path.name}: no capture time in the name")
        frames.append(AnnotatedFrame(images[0], captured_at, read_spaces(xml_path)))
    return sorted(frames, key=lambda f: f.captured_at)


def space_zone_file(spaces: list[Space], frame_size: tuple[int, int], grace_s: float, tz: str) -> dict:
    """A zone file with one zone per parking space, as an operator would draw one per bay."""
    return {
        "camera_id": "pklot",
        "frame_size": list(frame_size),
        "timezone": tz,
        "zones": [
            {"id": f"space-{s.id}", "polygon": [list(p) for p in s.polygon], "grace_s": grace_s, "leave_s": 30,
             "classes": ["vehicle"]}
            for s in spaces
        ],
    }


def expected_events(frames: list[AnnotatedFrame], grace_s: float) -> set[tuple[str, datetime, datetime]]:
    """(space id, first, last frame time) of every run of consecutive occupied frames spanning ``grace_s``."""
    events = set()
    for space_id in frames[0].spaces:
        run: list[datetime] = []
        for frame in [*frames, None]:
            if frame is not None and frame.spaces[space_id].occupied:
                run.append(frame.captured_at)
                continue
            if len(run) >= 2 and (run[-1] - run[0]).total_seconds() >= grace_s:
                events.add((space_id, run[0], run[-1]))
            run = []
    return events
