"""Clear width in a calibrated lane, through the pipeline: a parked car leaves less than the fire code's 4.0 m."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detector.detections import Detections
from detector.sources import Frame
from service.camera.pipeline import CameraPipeline
from zones.config import ZoneFileError, parse_zones

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
LANE = [[142, 335], [818, 335], [926, 500], [34, 500]]


def camera(ground):
    return parse_zones({"camera_id": "gate-3", "frame_size": [960, 540], "zones": [
        {"id": "lane-1", "polygon": LANE, "grace_s": 10, "leave_s": 5, **({"ground": ground} if ground else {})}]})


# near-left, far-left (across: 6 m), far-right (along: 30 m), near-right
GROUND = {"corners": [[34, 500], [142, 335], [818, 335], [926, 500]], "width_m": 6.0, "length_m": 30.0}


class Parked:
    name, class_names = "parked", ["car"]

    def __init__(self, box):
        self.box = box

    def detect(self, image, imgsz=None):
        return Detections([self.box], [0.9], ["car"], ["vehicle"])


def run(zones, box, tmp_path):
    pipeline = CameraPipeline(zones, Parked(box), tmp_path, [], "test", sample_fps=2.0, clip_pre_s=0, clip_post_s=0,
                              gate_max_skip_s=None, find_obstructions=False)
    image = np.full((540, 960, 3), 90, np.uint8)
    for i in range(30):
        pipeline.process(Frame(image, T0 + timedelta(seconds=i / 2), i))
    [violation] = pipeline.violations
    return violation


def test_a_lorry_across_most_of_the_lane_blocks_it(tmp_path):
    violation = run(camera(GROUND), (250, 200, 700, 495), tmp_path)  # its footprint reaches 3 m into the 6 m lane
    assert violation.severity == "blocked" and violation.clear_width_m == pytest.approx(3.0, abs=0.1)
    assert violation.db_fields()["clear_width_m"] == violation.clear_width_m
    assert "剩余通行宽度" in violation.width_note()


def test_a_small_object_at_the_edge_only_narrows_it(tmp_path):
    violation = run(camera(GROUND), (400, 480, 440, 500), tmp_path)
    assert violation.severity == "narrowed" and violation.clear_width_m == pytest.approx(5.8, abs=0.1)


def test_uncalibrated_zones_work_as_before(tmp_path):
    violation = run(camera(None), (250, 340, 700, 495), tmp_path)
    assert violation.clear_width_m is None and violation.severity is None and violation.width_note() is None


def test_a_bad_calibration_is_a_zone_file_error_naming_the_zone():
    with pytest.raises(ZoneFileError, match="zone 'lane-1': ground:"):
        camera({"corners": [[34, 500], [142, 335], [818, 335]], "width_m": 6.0, "length_m": 30.0})
    with pytest.raises(ZoneFileError, match="zone 'lane-1': ground:"):
        camera({**GROUND, "width_m": float("nan")})
