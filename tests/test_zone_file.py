"""Zone files: every fault named with its zone, nothing accepted half-valid."""

from __future__ import annotations

import json
import math

import pytest

from service.cli import EXIT_BAD_INPUT, main
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
    assert "no zones" in problems({"camera_id": "x", "frame_size": [320, 240], "zones": []})


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


# --- every number finite and in range, every list and name bounded ---

SQUARE = [[10, 10], [200, 10], [200, 100], [10, 100]]


@pytest.mark.parametrize("field", ["grace_s", "leave_s", "min_overlap"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_infinite_and_nan_times_are_refused_by_zone(field, value):
    assert f"zone 'lane-a': {field}: Input should be a finite number" in problems(zone_file(**{field: value}))


@pytest.mark.parametrize("field", ["grace_s", "leave_s"])
def test_times_longer_than_a_week_are_refused(field):
    assert f"zone 'lane-a': {field}: Input should be less than or equal to 604800" in problems(
        zone_file(**{field: 1e308}))
    assert parse_zones(zone_file(**{field: 604800})).zones[0].__getattribute__(field) == 604800


def test_points_must_be_finite():
    text = problems(zone_file(polygon=[[10, 10], [float("inf"), 10], [200, float("nan")]]))
    assert "zone 'lane-a': polygon.1.0: Input should be a finite number" in text
    assert "zone 'lane-a': polygon.2.1: Input should be a finite number" in text


@pytest.mark.parametrize("size, expected", [
    ([1e9, 1e9], "file: frame_size.0: Input should be less than or equal to 16384"),
    ([320, 10**40], "file: frame_size.1: Input should be less than or equal to 16384"),
    ([8, 240], "file: frame_size.0: Input should be greater than or equal to 16"),
    ([0, 240], "file: frame_size.0: Input should be greater than or equal to 16"),
    ([float("inf"), 240], "file: frame_size.0: Input should be a finite number"),
])
def test_frame_size_is_16_to_16384_pixels_a_side(size, expected):
    raw = zone_file()
    raw["frame_size"] = size
    assert expected in problems(raw)


def test_point_and_zone_counts_are_bounded():
    circle = [[160 + 100 * math.cos(i / 1001 * math.tau), 120 + 100 * math.sin(i / 1001 * math.tau)]
              for i in range(1001)]
    assert "zone 'lane-a': polygon: List should have at most 1000 items" in problems(zone_file(polygon=circle))
    assert len(parse_zones(zone_file(polygon=circle[::2])).zones[0].polygon.exterior.coords) == 502
    raw = zone_file()
    raw["zones"] = [{"id": f"z{i}", "polygon": SQUARE} for i in range(101)]
    assert "file: zones: List should have at most 100 items" in problems(raw)
    raw["zones"] = raw["zones"][:100]
    assert len(parse_zones(raw).zones) == 100


def test_names_and_strings_are_length_bounded():
    raw = zone_file(name="北" * 257, active="07:00-09:00, " * 30, classes=["car"] * 101)
    raw["camera_name"] = "门" * 257
    raw["timezone"] = "Asia/" + "x" * 100
    text = problems(raw)
    for expected in ("zone 'lane-a': name: String should have at most 256 characters",
                     "zone 'lane-a': active: String should have at most 256 characters",
                     "zone 'lane-a': classes: List should have at most 100 items",
                     "file: camera_name: String should have at most 256 characters",
                     "file: timezone: String should have at most 64 characters"):
        assert expected in text
    assert "zone 'lane-a': classes.0: String should have at most 64 characters" in problems(
        zone_file(classes=["x" * 65]))
    assert parse_zones(zone_file(name="北" * 256)).zones[0].name == "北" * 256


def test_names_hold_no_control_characters():
    raw = zone_file(name="北侧\x00通道")
    raw["camera_name"] = "东门\n"
    text = problems(raw)
    assert "zone 'lane-a': name: must not contain control characters" in text
    assert "file: camera_name: must not contain control characters" in text
    assert "Value error" not in text


def test_a_huge_zone_id_is_not_quoted_back():
    raw = zone_file()
    raw["zones"].append({"id": "x" * 100_000, "polygon": SQUARE, "leave_s": "soon"})
    text = problems(raw)
    assert "zone #2: leave_s" in text and len(text) < 1000


@pytest.mark.parametrize("text, expected", [
    ('"leave_s": Infinity', "zone 'lane-a': leave_s: Input should be a finite number"),
    ('"leave_s": NaN', "zone 'lane-a': leave_s: Input should be a finite number"),
    ('"leave_s": 1e308', "zone 'lane-a': leave_s: Input should be less than or equal to 604800"),
    ('"grace_s": 1e999', "zone 'lane-a': grace_s: Input should be a finite number"),
])
def test_cli_exits_2_naming_the_fault(tmp_path, capsys, text, expected):
    """`firelane run --zones` stops before opening the video: exit 2 and the fault by zone, no traceback."""
    document = json.dumps(zone_file()).replace('"name":', text + ', "name":', 1)
    path = tmp_path / "bad.json"
    path.write_text(document, encoding="utf-8")
    assert main(["run", str(tmp_path / "never-opened.mp4"), "--zones", str(path), "--out", str(tmp_path)]) \
        == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"firelane: invalid zone file {path}:" in err and expected in err
    assert not (tmp_path / "violations.jsonl").exists()


def test_cli_exits_2_for_a_huge_frame_size_in_yaml(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("camera_id: c\nframe_size: [1.0e+9, 1.0e+9]\n"
                    "zones:\n  - id: a\n    polygon: [[0,0],[50,0],[50,50]]\n    leave_s: .inf\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "never-opened.mp4"), "--zones", str(path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "file: frame_size.0: Input should be less than or equal to 16384" in err
    assert "zone 'a': leave_s: Input should be a finite number" in err
