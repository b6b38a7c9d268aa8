"""Obstructions on real footage (../shared/data/obstruction, timelines in its README): a backpack left in a corridor
by a fire hydrant, a small cup placed, moved and removed on a busy plaza. Neither is anything a zone's classes name
through the detector alone; the lane model finds them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from detector.sources import VideoFileSource
from service.camera.runner import run_camera
from service.evidence import verify_manifest
from service.settings import Settings
from zones.config import load_zones
from zones.geometry import box_iou

pytestmark = [pytest.mark.footage, pytest.mark.model]
TESTS = Path(__file__).parent
START = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def seconds(at: datetime) -> float:
    return (at - START).total_seconds()


def run(shared_data, name, zones, detector, tmp_path):
    camera = load_zones(TESTS / zones)
    source = VideoFileSource(shared_data / "obstruction" / name, fps=2.0, start=START)
    return run_camera(source, camera, detector, Settings(), tmp_path / "out", progress=False)


def test_a_backpack_left_by_the_hydrant_is_one_obstruction_at_the_time_the_timeline_implies(shared_data, ssd,
                                                                                              tmp_path):
    report = run(shared_data, "corridor-backpack.mp4", "corridor.zones.json", ssd, tmp_path)
    [violation] = report.violations
    assert violation.occupant.category == "obstruction"
    # set down at 10-11 s, left alone from 16.7 s (it tips over at about 20 s); the lane model vouches for an object
    # after 8 s still, and the dwell counts from then: the zone's 10 s grace time follows
    assert 16.7 <= seconds(violation.started_at) <= 16.7 + 8 + 4
    assert seconds(violation.started_at) + 10 <= seconds(violation.violation_at) <= 16.7 + 8 + 4 + 10 + 1
    assert violation.ended_at is None, "it lies there to the end of the clip"
    assert box_iou(violation.occupant.box, (131, 326, 186, 367)) > 0.4, violation.occupant.box
    folder = violation.evidence.folder
    assert {"00-before.jpg", "01-begin.jpg", "02-grace.jpg"} <= set(violation.evidence.files)
    assert verify_manifest(folder) == []


def test_a_cup_moved_on_a_busy_plaza_restarts_its_timer_and_removing_it_ends_it(shared_data, ssd, tmp_path):
    report = run(shared_data, "plaza-cup.mp4", "plaza.zones.json", ssd, tmp_path)
    places = [(seconds(v.started_at), seconds(v.ended_at) if v.ended_at else None) for v in report.violations]
    # README: still at (187,60) 4.1-34.1 s, at (138,92) 38.5-71.7 s, at (188,224) 125.9-134.0 s (shorter than the
    # 10 s grace time: no violation), at (171,164) 136.9-159.1 s; people walk past and stand by it throughout
    assert len(places) == 3, places
    (first_start, first_end), (second_start, second_end), (third_start, _) = places
    vouched = 8 + 3  # the lane model's still time for a 3-8 px cup among pedestrians, and a margin
    assert 4.1 <= first_start <= 4.1 + vouched and 30 <= first_end <= 35
    assert 38.5 <= second_start <= 38.5 + vouched and 70 <= second_end <= 74, "moved: a new violation, a new dwell"
    assert 136.9 <= third_start <= 136.9 + vouched
    boxes = [v.occupant.box for v in report.violations]
    for (x1, y1, x2, y2), (cx, cy) in zip(boxes, [(187, 60), (138, 92), (171, 164)]):
        assert abs((x1 + x2) / 2 - cx) <= 6 and abs((y1 + y2) / 2 - cy) <= 8
