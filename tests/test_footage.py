"""The whole loop on real footage from ../shared/data: PKLot stills and a drive-through traffic clip."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from detector.sources import StillsFolderSource, VideoFileSource
from service.evaluation.pklot import expected_events, read_sequence, space_zone_file
from service.camera.runner import run_camera
from service.settings import Settings
from zones.config import load_zones, parse_zones

pytestmark = [pytest.mark.footage, pytest.mark.model]
PKLOT_TZ = "America/Sao_Paulo"
GRACE_S = 300


def run_stills(folder, zone_file, detector, tmp_path):
    camera = parse_zones(zone_file)
    source = StillsFolderSource(folder, camera.timezone)
    return run_camera(source, camera, detector, Settings(), tmp_path / "out", progress=False)


def test_pklot_empty_lot_gives_no_violation(shared_data, yolo, tmp_path):
    folder = shared_data / "pklot-ufpr05" / "sequence0"
    frames = read_sequence(folder, ZoneInfo(PKLOT_TZ))
    spaces = list(frames[0].spaces.values())
    assert not any(s.occupied for f in frames for s in f.spaces.values())
    report = run_stills(folder / "frames", space_zone_file(spaces, (1280, 720), GRACE_S, PKLOT_TZ), yolo, tmp_path)
    assert report.frames == 5
    assert report.violations == []


@pytest.mark.parametrize("sequence", ["sequence1", "sequence2"])
def test_pklot_spaces_occupied_in_consecutive_frames_become_violations(shared_data, yolo, tmp_path, sequence):
    folder = shared_data / "pklot-ufpr05" / sequence
    frames = read_sequence(folder, ZoneInfo(PKLOT_TZ))
    expected = expected_events(frames, GRACE_S)
    assert expected, "the XML has spaces occupied in consecutive frames"
    zone_file = space_zone_file(list(frames[0].spaces.values()), (1280, 720), GRACE_S, PKLOT_TZ)
    report = run_stills(folder / "frames", zone_file, yolo, tmp_path)

    def overlaps(found, truth):
        return found.zone.id == f"space-{truth[0]}" and found.started_at <= truth[2] and found.occupant.last_seen >= truth[1]

    matched_truth = [t for t in expected if any(overlaps(v, t) for v in report.violations)]
    true_found = [v for v in report.violations if any(overlaps(v, t) for t in expected)]
    recall = len(matched_truth) / len(expected)
    precision = len(true_found) / len(report.violations) if report.violations else 0.0
    print(f"{sequence}: {len(expected)} expected, {len(report.violations)} found, P {precision:.2f} R {recall:.2f}")
    assert recall >= 0.8 and precision >= 0.8
    for violation in report.violations:  # every violation spans more than the grace time between its stills
        assert (violation.violation_at - violation.started_at).total_seconds() >= GRACE_S


@pytest.mark.parametrize("gate", [None, 5.0], ids=["every-frame", "gated"])
def test_drive_through_traffic_gives_no_violation(shared_data, yolo, tmp_path, gate):
    """Cars and trucks drive through a zone across the carriageway; a 5 s grace must never fire."""
    camera = load_zones(Path(__file__).parent / "traffic.zones.json")  # two zones across the carriageways, 5 s grace
    source = VideoFileSource(shared_data / "traffic" / "video02.avi", 5.0, datetime(2026, 1, 1, tzinfo=camera.timezone))
    entered: list = []
    original = run_camera.__globals__["CameraPipeline"].process

    def spy(self, frame):
        result = original(self, frame)
        entered.extend(e for e in result.events if e.kind == "entered")
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_camera.__globals__["CameraPipeline"], "process", spy)
        report = run_camera(source, camera, yolo, Settings(), tmp_path / "out", progress=False, gate_max_skip_s=gate)
    assert report.frames >= 140
    assert len(entered) >= 10, "vehicles are seen in the zones"
    assert report.violations == []
