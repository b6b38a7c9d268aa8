"""Zone files: every fault named with its zone, nothing accepted half-valid."""

from __future__ import annotations

import json

import pytest

from zones.config import ZoneFileError, load_zones, parse_zones
from zones.schedule import Schedule


def zone_file(**zone_overrides):
    zone = {"id": "lane-a", "name": "北侧消防车通道", "polygon": [[10, 10], [200, 10], [200, 100], [10, 100]]}
    zone.update(zone_overrides)
    return {"camera_id": "gate-3", "frame_size": [320, 240], "units": "px", "zones": [zone]}


def problems(raw):
    with pytest.raises(ZoneFileError) as info:
        parse_zones(raw)
    return " | ".join(info.value.problems)


def test_valid_file_gives_pixel_polygons_and_defaults():
    cam = parse_zones(zone_file())
    (zone,) = cam.zones
    assert zone.name == "北侧消防车通道" and zone.kind == "fire_lane"
    assert zone.grace_s == 180 and zone.leave_s == 30 and zone.min_overlap == 0.3
    assert zone.polygon.area == pytest.approx(190 * 90)


def test_relative_units_scale_to_the_frame():
    raw = zone_file(polygon=[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]])
    raw["units"] = "relative"
    (zone,) = parse_zones(raw).zones
    assert zone.polygon.bounds == (0, 0, 160, 120)


def test_scaled_to_another_frame_size():
    cam = parse_zones(zone_file()).scaled_to(640, 480)
    assert cam.zones[0].polygon.bounds == (20, 20, 400, 200)


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"polygon": [[0, 0], [10, 10]]}, "zone 'lane-a': polygon needs at least 3 points"),
        ({"polygon": [[0, 0], [100, 100], [100, 0], [0, 100]]}, "zone 'lane-a': polygon is invalid"),
        ({"polygon": [[0, 0], [400, 0], [400, 100]]}, "zone 'lane-a': points outside the frame"),
        ({"classes": ["vehicle", "tank"]}, "zone 'lane-a': unknown classes ['tank']"),
        ({"grace_s": -5}, "zone 'lane-a': grace_s"),
        ({"leave_s": -1}, "zone 'lane-a': leave_s"),
        ({"min_overlap": 0}, "zone 'lane-a': min_overlap"),
        ({"kind": "garden"}, "zone 'lane-a': kind"),
        ({"active": "9-17"}, "zone 'lane-a': active"),
        ({"id": "../etc"}, "id must be"),
    ],
)
def test_faults_are_named_with_their_zone(override, expected):
    assert expected in problems(zone_file(**override))


def test_all_faults_reported_together():
    raw = zone_file(classes=["boat-ish"])
    raw["zones"].append({"id": "lane-a", "polygon": [[0, 0], [5, 5]]})
    text = problems(raw)
    assert "duplicate zone id" in text and "at least 3 points" in text and "boat-ish" in text


def test_missing_fields_and_bad_top_level():
    assert "frame_size" in problems({"camera_id": "x", "zones": []})
    assert "top level" in problems([1, 2])
    assert "no zones" in problems({"camera_id": "x", "frame_size": [10, 10], "zones": []})


def test_load_zones_reports_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "z.json"
    bad.write_text("{not json")
    with pytest.raises(ZoneFileError, match="not valid JSON"):
        load_zones(bad)
    with pytest.raises(ZoneFileError, match="cannot read file"):
        load_zones(tmp_path / "missing.json")
    good = tmp_path / "z.yaml"
    good.write_text("camera_id: c\nframe_size: [320, 240]\nzones:\n  - id: a\n    polygon: [[0,0],[50,0],[50,50]]\n")
    assert load_zones(good).zones[0].id == "a"
    (tmp_path / "ok.json").write_text(json.dumps(zone_file()))
    assert load_zones(tmp_path / "ok.json").camera_id == "gate-3"


def test_schedule_windows():
    from datetime import time

    overnight = Schedule.parse("22:00-06:00")
    assert overnight.is_active(time(23, 0)) and overnight.is_active(time(5, 59))
    assert not overnight.is_active(time(12, 0))
    day = Schedule.parse("00:00-24:00")
    assert day.is_active(time(0, 0)) and day.is_active(time(23, 59, 59))
    two = Schedule.parse("07:00-09:00, 17:00-19:00")
    assert two.is_active(time(8, 0)) and not two.is_active(time(12, 0))
    for bad in ("25:00-26:00", "08:00-08:00", "8h-9h"):
        with pytest.raises(ValueError):
            Schedule.parse(bad)
