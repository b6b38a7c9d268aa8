"""`firelane eval`: run the real pipeline over annotated footage and score it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2

from detector.backends import Detector
from detector.sources import FrameSource, StillsFolderSource
from service.evaluation.metrics import Counts, EventMatch, Interval, match_events, occupancy_counts
from service.evaluation.pklot import expected_events, read_sequence, space_zone_file
from service.camera.pipeline import CameraPipeline
from zones.config import CameraZones, parse_zones
from zones.geometry import footprint_overlap
from zones.occupancy import OccupancyEvent

PKLOT_TZ = "America/Sao_Paulo"


def _violation_intervals(events: list[OccupancyEvent], last_at: datetime | None) -> list[Interval]:
    """Violations as (zone, started, ended) intervals; one still open at the end lasts until the last frame."""
    open_: dict[int, Interval] = {}
    done: list[Interval] = []
    for event in events:
        occ = event.occupant
        if event.kind == "violation_started":
            open_[occ.key] = Interval(occ.zone_id, occ.still_since, occ.last_seen)
        elif event.kind == "violation_ended" and occ.key in open_:
            done.append(Interval(occ.zone_id, open_.pop(occ.key).start, event.at))
    done += [Interval(i.zone_id, i.start, last_at or i.end) for i in open_.values()]
    return done


@dataclass
class PipelineRun:
    frames: int = 0
    detector_calls: int = 0
    events: list[OccupancyEvent] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None


def _run(source: FrameSource, camera: CameraZones, detector: Detector, gate_max_skip_s: float | None,
         on_frame=None) -> PipelineRun:
    """The production pipeline (tracker, gate, occupancy), with evidence written to a throw-away folder."""
    run = PipelineRun()
    with tempfile.TemporaryDirectory(prefix="firelane-eval-") as scratch:
        pipeline = CameraPipeline(camera, detector, Path(scratch), [], source.description,
                                  sample_fps=source.sample_fps, gate_max_skip_s=gate_max_skip_s)
        for frame in source.frames():
            result = pipeline.process(frame)
            run.frames += 1
            run.events += result.events
            run.first_at = run.first_at or frame.captured_at
            run.last_at = frame.captured_at
            if on_frame:
                on_frame(frame, result.detections)
        pipeline.finish()
        run.detector_calls = pipeline.times.calls.get("detect", 0)
    return run


def evaluate_pklot(sequences: list[Path], detector: Detector, grace_s: float = 300.0,
                   min_overlap: float = 0.3, imgsz: int | None = None) -> dict:
    """Per-space occupancy P/R/F1 and violation-event P/R on PKLot-style sequences (stills + per-space XML)."""
    tz = ZoneInfo(PKLOT_TZ)
    occupancy, events = Counts(), EventMatch(Counts())
    per_sequence = []
    for folder in sequences:
        frames = read_sequence(folder, tz)
        spaces = frames[0].spaces
        height, width = cv2.imread(str(frames[0].image)).shape[:2]
        zone_file = space_zone_file(list(spaces.values()), (width, height), grace_s, PKLOT_TZ)
        for zone in zone_file["zones"]:
            zone["min_overlap"] = min_overlap
        camera = parse_zones({**zone_file, "imgsz": imgsz})
        truth_by_time = {f.captured_at: f for f in frames}
        seq_occupancy = Counts()

        def score(frame, detections, camera=camera, truth_by_time=truth_by_time):
            nonlocal seq_occupancy
            vehicles = detections[detections.category == "vehicle"]
            truth = truth_by_time[frame.captured_at]
            predicted = {
                zone.id.removeprefix("space-"): bool((footprint_overlap(vehicles.xyxy, zone.polygon) >= min_overlap).any())
                for zone in camera.zones
            }
            seq_occupancy += occupancy_counts(predicted, {k: s.occupied for k, s in truth.spaces.items()})

        run = _run(StillsFolderSource(folder / "frames", tz), camera, detector, None, score)
        truth_events = [Interval(f"space-{s}", a, b) for s, a, b in expected_events(frames, grace_s)]
        matched = match_events(_violation_intervals(run.events, run.last_at), truth_events)
        occupancy += seq_occupancy
        events = EventMatch(events.counts + matched.counts, events.pairs + matched.pairs)
        per_sequence.append({"sequence": folder.name, "frames": run.frames, "occupancy": seq_occupancy.to_json(),
                             "events": matched.to_json()})
    return {"kind": "pklot", "detector": detector.name, "imgsz": imgsz, "grace_s": grace_s,
            "min_overlap": min_overlap, "occupancy": occupancy.to_json(), "events": events.to_json(),
            "sequences": per_sequence}


def read_events_file(path: Path, start: datetime) -> list[Interval]:
    """True occupations: ``[{"zone_id", "start", "end"}]`` with ISO-8601 times or seconds from the video start
    (``start_s``/``end_s`` as in the samples' truth files are seconds too)."""
    def when(value) -> datetime:
        if isinstance(value, (int, float)):
            return start + timedelta(seconds=value)
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=start.tzinfo)

    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw["events"] if isinstance(raw, dict) else raw
    return [Interval(e["zone_id"], when(e.get("start", e.get("start_s"))), when(e.get("end", e.get("end_s"))))
            for e in items]


def evaluate_video(source: FrameSource, camera: CameraZones, detector: Detector, truth: list[Interval],
                   gate_max_skip_s: float | None = 5.0) -> dict:
    """Event P/R and start/end timing errors; with no true events, the false violations per hour."""
    run = _run(source, camera, detector, gate_max_skip_s)
    matched = match_events(_violation_intervals(run.events, run.last_at), truth)
    hours = ((run.last_at - run.first_at).total_seconds() / 3600) if run.frames > 1 else 0.0
    return {"kind": "video", "source": source.description, "detector": detector.name, "imgsz": camera.imgsz,
            "frames": run.frames, "detector_calls": run.detector_calls, "hours": round(hours, 4),
            "true_events": len(truth), "events": matched.to_json(),
            "false_violations_per_hour": round(matched.counts.fp / hours, 2) if hours else None,
            "vehicles_seen_in_zones": sum(e.kind == "entered" for e in run.events)}
