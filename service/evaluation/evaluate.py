"""`firelane eval`: run the real pipeline over annotated footage and score it."""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2

from detector.backends import Detector
from detector.detections import VEHICLE
from detector.sizing import MAX_IMGSZ, inference_size
from detector.sources import FrameSource, StillsFolderSource
from detector.tiling import TiledDetector, TileMode
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
    detect_ms: float | None = None  # per detector call, with tiles all of them


def _run(source: FrameSource, camera: CameraZones, detector: Detector, gate_max_skip_s: float | None,
         on_frame=None) -> PipelineRun:
    """The production pipeline (tracker, gate, occupancy), with evidence written to a throw-away folder."""
    run = PipelineRun()
    with tempfile.TemporaryDirectory(prefix="firelane-eval-") as scratch:
        pipeline = CameraPipeline(camera, detector, Path(scratch), [], source.description,  # tiles: the caller's
                                  sample_fps=source.sample_fps, gate_max_skip_s=gate_max_skip_s, tiles="off")
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
        if run.detector_calls:
            run.detect_ms = round(1000 * pipeline.times.seconds["detect"] / run.detector_calls, 1)
    return run


def _with_tiles(detector: Detector, camera: CameraZones, tiles: TileMode, max_imgsz: int) -> Detector:
    if tiles == "off":
        return detector
    return TiledDetector(detector, camera.frame_size, [z.polygon for z in camera.zones], tiles=tiles,
                         max_imgsz=max_imgsz)


def _tiles_json(detector: Detector, camera: CameraZones) -> dict | None:
    if not isinstance(detector, TiledDetector):
        return None
    return detector.layout(camera.frame_size, camera.imgsz)[1].to_json()


def _tile_cost(timings: list[tuple[float, float]]) -> dict | None:
    """The tiles' time beside the full frame's on the same frames, as medians: a first call's compiling or a busy
    moment of the machine moves neither."""
    if not timings:
        return None
    full_ms, tiles_ms = (round(1000 * statistics.median(t), 1) for t in zip(*timings))
    return {"full_frame_ms": full_ms, "tiles_ms": tiles_ms, "ratio": round((full_ms + tiles_ms) / full_ms, 2)}


def evaluate_pklot(sequences: list[Path], detector: Detector, grace_s: float = 300.0, min_overlap: float = 0.3,
                   imgsz: int | None = None, max_imgsz: int = MAX_IMGSZ, tiles: TileMode = "off") -> dict:
    """Per-space occupancy P/R/F1 and violation-event P/R on PKLot-style sequences (stills + per-space XML).

    Without ``imgsz`` each sequence runs at ``inference_size`` of its frames and spaces, as a camera would.
    """
    tz = ZoneInfo(PKLOT_TZ)
    occupancy, events = Counts(), EventMatch(Counts())
    per_sequence = []
    timings: list[tuple[float, float]] = []
    for folder in sequences:
        frames = read_sequence(folder, tz)
        spaces = frames[0].spaces
        height, width = cv2.imread(str(frames[0].image)).shape[:2]
        zone_file = space_zone_file(list(spaces.values()), (width, height), grace_s, PKLOT_TZ)
        for zone in zone_file["zones"]:
            zone["min_overlap"] = min_overlap
        camera = parse_zones(zone_file)
        size = imgsz or inference_size((width, height), [z.polygon for z in camera.zones], max_imgsz=max_imgsz)
        camera = replace(camera, imgsz=size)
        seq_detector = _with_tiles(detector, camera, tiles, max_imgsz)
        seq_detector.detect(cv2.imread(str(frames[0].image)), imgsz=size)  # first calls per input shape compile
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

        run = _run(StillsFolderSource(folder / "frames", tz), camera, seq_detector, None, score)
        truth_events = [Interval(f"space-{s}", a, b) for s, a, b in expected_events(frames, grace_s)]
        matched = match_events(_violation_intervals(run.events, run.last_at), truth_events)
        occupancy += seq_occupancy
        timings += getattr(seq_detector, "timings", [])
        events = EventMatch(events.counts + matched.counts, events.pairs + matched.pairs)
        per_sequence.append({"sequence": folder.name, "frames": run.frames, "imgsz": size,
                             "tiles": _tiles_json(seq_detector, camera), "detect_ms": run.detect_ms,
                             "occupancy": seq_occupancy.to_json(), "events": matched.to_json()})
    sizes = sorted({s["imgsz"] for s in per_sequence})
    detect_ms = [s["detect_ms"] for s in per_sequence if s["detect_ms"] is not None]
    return {"kind": "pklot", "detector": detector.name, "imgsz": sizes[0] if len(sizes) == 1 else sizes,
            "tiles": tiles, "tile_cost": _tile_cost(timings), "grace_s": grace_s, "min_overlap": min_overlap,
            "detect_ms": round(sum(detect_ms) / len(detect_ms), 1) if detect_ms else None,
            "occupancy": occupancy.to_json(), "events": events.to_json(), "sequences": per_sequence}


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
                   gate_max_skip_s: float | None = 5.0, max_imgsz: int = MAX_IMGSZ, tiles: TileMode = "off") -> dict:
    """Event P/R and start/end timing errors; with no true events, the false violations per hour.

    ``camera.imgsz`` None sizes the inference automatically (``imgsz`` in the result is that size for frames of
    the zone file's size).
    """
    detector = _with_tiles(detector, camera, tiles, max_imgsz)
    vehicles_in_zones = dict.fromkeys((z.id for z in camera.zones), 0)

    def count_vehicles(frame, detections):
        vehicles = detections[detections.category == VEHICLE]
        for zone in camera.zones:
            inside = footprint_overlap(vehicles.xyxy, zone.polygon) >= zone.min_overlap
            vehicles_in_zones[zone.id] += int(inside.sum())

    run = _run(source, camera, detector, gate_max_skip_s, count_vehicles)
    matched = match_events(_violation_intervals(run.events, run.last_at), truth)
    hours = ((run.last_at - run.first_at).total_seconds() / 3600) if run.frames > 1 else 0.0
    size = camera.imgsz or inference_size(camera.frame_size, [z.polygon for z in camera.zones], max_imgsz=max_imgsz)
    return {"kind": "video", "source": source.description, "detector": detector.name, "imgsz": size,
            "tiles": _tiles_json(detector, camera), "tile_cost": _tile_cost(getattr(detector, "timings", [])),
            "frames": run.frames, "detector_calls": run.detector_calls,
            "detect_ms": run.detect_ms, "hours": round(hours, 4),
            "true_events": len(truth), "events": matched.to_json(),
            "false_violations_per_hour": round(matched.counts.fp / hours, 2) if hours else None,
            "vehicles_seen_in_zones": sum(e.kind == "entered" for e in run.events),
            "vehicles_per_frame_by_zone": {z: round(n / max(run.frames, 1), 2) for z, n in vehicles_in_zones.items()}}
