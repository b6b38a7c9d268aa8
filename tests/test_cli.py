"""The firelane command: clear errors for bad input, JSON from detect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import EXIT_BAD_INPUT, EXIT_SOURCE, main

BUS = Path(__import__("ultralytics").__file__).parent / "assets" / "bus.jpg"


def write_zones(path: Path, **zone) -> Path:
    spec = {"id": "lane-a", "name": "公交站前通道", "polygon": [[0, 600], [810, 600], [810, 1080], [0, 1080]]}
    spec.update(zone)
    path.write_text(json.dumps({"camera_id": "bus-stop", "frame_size": [810, 1080], "zones": [spec]}), "utf-8")
    return path


def test_invalid_zone_file_exits_2_and_names_every_fault(tmp_path, capsys):
    zones = write_zones(tmp_path / "z.json", polygon=[[0, 0], [900, 900], [900, 0], [0, 900]], grace_s=-3)
    assert main(["run", str(BUS), "--zones", str(zones), "--model", "ssd-coco", "--out", str(tmp_path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "invalid zone file" in err and "zone 'lane-a': grace_s" in err
    assert not (tmp_path / "violations.jsonl").exists()  # nothing ran


def test_corrupt_video_exits_3(tmp_path, capsys):
    video = tmp_path / "cam.mp4"
    video.write_bytes(b"\x00" * 2048)
    zones = write_zones(tmp_path / "z.json")
    assert main(["run", str(video), "--zones", str(zones), "--model", "ssd-coco", "--out", str(tmp_path / "o")]) == EXIT_SOURCE
    assert "not a decodable video" in capsys.readouterr().err


def test_detect_json_lists_objects_and_zone_flags(tmp_path, capsys):
    zones = write_zones(tmp_path / "z.json")
    far = {"id": "far", "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]]}
    raw = json.loads(zones.read_text("utf-8"))
    raw["zones"].append(far)
    zones.write_text(json.dumps(raw), "utf-8")
    assert main(["detect", str(BUS), "--zones", str(zones), "--model", "ssd-coco", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    bus = next(o for o in result["objects"] if o["class"] == "bus")
    assert bus["category"] == "vehicle" and bus["zones"] == ["lane-a"] and len(bus["box"]) == 4
    people = [o for o in result["objects"] if o["class"] == "person"]
    assert people and all(o["zones"] == [] for o in people)  # people are not occupants
    flags = {z["id"]: z["occupied"] for z in result["zones"]}
    assert flags == {"lane-a": True, "far": False}
    assert result["detector"].startswith("ssd-coco")


def test_single_image_run_records_no_violation(tmp_path, capsys):
    zones = write_zones(tmp_path / "z.json", grace_s=0)
    assert main(["run", str(BUS), "--zones", str(zones), "--model", "ssd-coco", "--out", str(tmp_path / "o"), "-q"]) == 0
    assert "0 violation(s)" in capsys.readouterr().out  # one sighting is not proof of standing still
    assert (tmp_path / "o" / "violations.jsonl").read_text() == ""
    assert (tmp_path / "o" / "firelane.db").exists()


@pytest.mark.parametrize("argv", [["run"], ["detect", "x.jpg"], ["nonsense"]])
def test_usage_errors(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
