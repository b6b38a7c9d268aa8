"""The bundled sample end to end: one parked vehicle becomes one violation with intact evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import cv2
import pytest
from sqlalchemy import select

from detector.sources import open_source
from service.db import EvidenceFile, Violation, make_engine, session_factory
from service.evidence import verify_manifest
from service.camera.runner import run_camera
from service.settings import PROJECT_ROOT, Settings
from zones.config import load_zones

SAMPLES = PROJECT_ROOT / "samples"
TRUTH = json.loads((SAMPLES / "fire-lane-demo.truth.json").read_text("utf-8"))


def test_demo_command_on_a_fresh_machine_uses_the_offline_detector(tmp_path):
    """What the README's first command runs: no weights, no internet → SSD fallback, still finds the violation."""
    env = {**os.environ, "FIRELANE_OFFLINE": "1", "FIRELANE_MODELS_DIR": str(tmp_path / "no-models")}
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo", "--out", str(tmp_path / "demo"), "-q", "--no-serve"],
        capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "offline SSD-MobileNet-v2" in result.stderr
    assert "1 violation(s)" in result.stdout
    assert "evidence hashes match their manifests" in result.stdout


@pytest.mark.model
def test_sample_with_yolo_gives_the_ground_truth_violation_and_its_evidence(yolo, tmp_path):
    camera = load_zones(SAMPLES / "fire-lane-demo.zones.json")
    start = datetime.fromisoformat(TRUTH["start"])
    source = open_source(str(SAMPLES / TRUTH["source"]), fps=2, tz=camera.timezone, start=start)
    report = run_camera(source, camera, yolo, Settings(), tmp_path / "out", progress=False)

    (record,) = report.violations
    parked = TRUTH["events"][0]
    grace = camera.zones[0].grace_s
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    # at rest = within max_drift of its final place: a slowing bus gets there a moment before its wheels stop
    assert abs((record.started_at - at(parked["start_s"])).total_seconds()) <= 3.0
    assert record.violation_at - record.started_at >= timedelta(seconds=grace)
    assert at(parked["end_s"]) - timedelta(seconds=2) <= record.ended_at <= at(parked["in_zone_end_s"])
    assert record.occupant.category == "vehicle"

    # evidence: three timed stills (first and last further apart than the grace time), crop, clip, manifest
    folder = record.evidence.folder
    files = {f.name: f for f in record.evidence.files.values()}
    for name in ("01-begin.jpg", "01-begin.clean.jpg", "02-grace.jpg", "03-last.jpg", "crop.jpg", "clip.webm"):
        assert (folder / name).is_file(), name
    assert (files["03-last.jpg"].captured_at - files["01-begin.jpg"].captured_at).total_seconds() > grace
    crop = cv2.imread(str(folder / "crop.jpg"))
    assert min(crop.shape[:2]) >= 160
    clip = cv2.VideoCapture(str(folder / "clip.webm"))
    assert clip.get(cv2.CAP_PROP_FRAME_COUNT) >= 20 and clip.read()[0]
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["violation"]["id"] == record.id and manifest["violation"]["final"] is True

    # tampering shows
    with (folder / "02-grace.jpg").open("ab") as handle:
        handle.write(b"\x00")
    assert verify_manifest(folder) == ["02-grace.jpg: altered (SHA-256 differs)"]

    # violations.jsonl: one object per violation with the agreed fields
    (line,) = [json.loads(x) for x in report.jsonl.read_text("utf-8").splitlines()]
    for key in ("id", "camera_id", "zone_id", "object_class", "started_at", "violation_at", "ended_at", "duration_s", "evidence"):
        assert key in line
    assert datetime.fromisoformat(line["ended_at"]) == record.ended_at
    assert line["duration_s"] == pytest.approx((record.ended_at - record.started_at).total_seconds(), abs=0.1)

    # database row and evidence rows
    engine = make_engine(report.database_url)
    with session_factory(engine)() as session:
        row = session.scalars(select(Violation)).one()
        assert row.id == record.id and row.ended_at == record.ended_at and row.zone_id == "lane-1"
        names = set(session.scalars(select(EvidenceFile.name).where(EvidenceFile.violation_id == row.id)))
        assert names == set(files) | {"manifest.json", "manifest.sig"}
        assert row.manifest_sha256 == record.evidence.manifest_sha256
    engine.dispose()


@pytest.mark.model
def test_static_scene_gating_finds_the_same_violation_with_fewer_detector_calls(yolo, tmp_path):
    camera = load_zones(SAMPLES / "fire-lane-demo.zones.json")
    start = datetime.fromisoformat(TRUTH["start"])
    reports = {}
    for gate in (None, 5.0):
        source = open_source(str(SAMPLES / TRUTH["source"]), fps=2, tz=camera.timezone, start=start)
        reports[gate] = run_camera(source, camera, yolo, Settings(), tmp_path / str(gate), progress=False,
                                   gate_max_skip_s=gate)
    (plain,), (gated,) = reports[None].violations, reports[5.0].violations
    assert abs((gated.started_at - plain.started_at).total_seconds()) <= 0.5
    assert abs((gated.violation_at - plain.violation_at).total_seconds()) <= 0.5
    assert abs((gated.ended_at - plain.ended_at).total_seconds()) <= 0.5
    assert reports[None].detector_calls == reports[None].frames
    reduction = 1 - reports[5.0].detector_calls / reports[None].detector_calls
    print(f"gating: {reports[None].detector_calls} → {reports[5.0].detector_calls} detector calls ({reduction:.0%} fewer)")
    assert reduction >= 0.3
