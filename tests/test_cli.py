"""The firelane command: clear errors for bad input, JSON from detect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import EXIT_BAD_INPUT, EXIT_OUTPUT, EXIT_SOURCE, main

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


def test_a_stream_that_never_opens_exits_3_after_the_configured_wait(tmp_path, capsys):
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    zones = write_zones(tmp_path / "z.json")
    started = time.monotonic()
    code = main(["run", f"http://127.0.0.1:{port}/cam.mjpg", "--zones", str(zones), "--model", "ssd-coco",
                 "--out", str(tmp_path / "o"), "--stream-timeout", "2", "--quiet"])
    assert code == EXIT_SOURCE
    assert time.monotonic() - started < 30
    assert "gave up after 2 s without frames" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--stream-timeout", "0"], ["--stream-timeout", "inf"], ["--db-wait", "nan"]])
def test_wait_options_must_be_finite_and_positive(tmp_path, argv):
    zones = write_zones(tmp_path / "z.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(BUS), "--zones", str(zones), *argv])
    assert exit_info.value.code == 2


@pytest.fixture
def small_disk(tmp_path):
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_run_on_a_read_only_output_exits_5_with_the_reason(small_disk, tmp_path, capsys):
    import subprocess

    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(small_disk)]).returncode:
        pytest.skip("tmpfs mount not permitted")
    zones = write_zones(tmp_path / "z.json")
    code = main(["run", str(BUS), "--zones", str(zones), "--model", "ssd-coco", "--out", str(small_disk / "out"),
                 "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--quiet"])
    assert code == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert "cannot write to" in err and "Read-only file system" in err


@pytest.mark.model
def test_run_on_a_disk_that_fills_exits_5_and_the_database_still_has_the_violation(small_disk, tmp_path, capsys):
    """The demo's parked bus, with the output folder on a tiny disk: the evidence cannot all be written."""
    import subprocess

    from sqlalchemy import select

    from service.db.models import Violation
    from service.db.session import make_engine, session_factory

    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(small_disk)]).returncode:
        pytest.skip("tmpfs mount not permitted")
    samples = Path(__file__).resolve().parents[1] / "samples"
    truth = json.loads((samples / "fire-lane-demo.truth.json").read_text("utf-8"))
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    code = main(["run", str(samples / "fire-lane-demo.webm"), "--zones", str(samples / "fire-lane-demo.zones.json"),
                 "--model", "ssd-coco", "--start", truth["start"], "--out", str(small_disk / "out"), "--db", db_url,
                 "--quiet"])
    assert code == EXIT_OUTPUT
    assert "No space left on device" in capsys.readouterr().err
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        [violation] = session.scalars(select(Violation)).all()
        assert violation.evidence_complete is False and "No space left" in violation.evidence_problem
    engine.dispose()
    assert not list(small_disk.rglob("*.partial*"))
