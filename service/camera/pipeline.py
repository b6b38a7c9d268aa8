"""One camera's stages wired together: detect → track → zone occupancy → violations with evidence → stores.

Each stage hands the next one plain values (``Frame``, ``Detections``, ``OccupancyEvent``), so stages can be
timed, swapped or run elsewhere; this module only keeps what evidence needs: the frame in which each occupant
came to rest, the latest frame of each violator, and a short ring of frames for clips.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from detector.backends import Detector
from detector.detections import Detections
from detector.gate import MotionGate
from detector.sources import Frame
from detector.tracking import ObjectTracker
from service.evidence import EvidenceSet
from service.timing import StageTimes
from zones.config import CameraZones, Zone
from zones.occupancy import MotionRules, OccupancyEngine, OccupancyEvent, Occupant

log = logging.getLogger(__name__)
_ID_NAMESPACE = uuid.UUID("6f1c3a52-0d1e-4f57-9a51-6b1f2e4c9d10")
CLIP_WIDTH = 960


@dataclass
class ViolationRecord:
    id: str
    camera: CameraZones
    zone: Zone
    occupant: Occupant
    started_at: datetime
    violation_at: datetime
    source: str
    evidence: EvidenceSet
    ended_at: datetime | None = None
    latest_frame: Frame | None = None

    @property
    def duration_s(self) -> float:
        return ((self.ended_at or self.occupant.last_seen) - self.started_at).total_seconds()

    def _identity(self) -> dict:
        return {
            "id": self.id,
            "camera_id": self.camera.camera_id,
            "camera_name": self.camera.camera_name,
            "zone_id": self.zone.id,
            "zone_name": self.zone.name,
            "zone_kind": self.zone.kind,
            "object_class": self.occupant.class_name,
            "category": self.occupant.category,
            "tracker_ids": sorted(self.occupant.tracker_ids),
            "source": self.source,
        }

    def facts(self) -> dict:
        """The violation as one JSON object (violations.jsonl, manifest)."""
        return {
            **self._identity(),
            "confidence": round(self.occupant.confidence, 3),
            "started_at": self.started_at.isoformat(),
            "violation_at": self.violation_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "last_seen_at": self.occupant.last_seen.isoformat(),
            "duration_s": round(self.duration_s, 1),
            "grace_s": self.zone.grace_s,
            "box": [round(v, 1) for v in self.occupant.box],
        }

    def db_fields(self) -> dict:
        """The columns of its ``violations`` row."""
        return {
            **self._identity(),
            "started_at": self.started_at,
            "violation_at": self.violation_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "box": [float(v) for v in self.occupant.box],
            "evidence_dir": self.evidence.relative_dir.as_posix(),
            "manifest_sha256": self.evidence.manifest_sha256,
        }


class ViolationStore(Protocol):
    def save(self, record: ViolationRecord, final: bool) -> None:
        """Called when a violation starts or its evidence grows (final=False) and once when it is settled."""


@dataclass
class FrameResult:
    frame: Frame
    detections: Detections
    events: list[OccupancyEvent]


@dataclass
class _PendingClip:
    record: ViolationRecord
    frames: list[np.ndarray]
    until: datetime


@dataclass
class CameraPipeline:
    camera: CameraZones
    detector: Detector
    evidence_root: Path
    stores: list[ViolationStore]
    source: str
    sample_fps: float | None = None  # None: stills, no clips
    clip_pre_s: float = 8.0
    clip_post_s: float = 8.0
    font_path: Path | None = None
    rules: MotionRules = field(default_factory=MotionRules)
    gate_max_skip_s: float | None = 5.0  # None: run the detector on every frame
    violations: list[ViolationRecord] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)

    def __post_init__(self) -> None:
        keep_lost_s = max(z.leave_s for z in self.camera.zones)
        self.tracker = ObjectTracker(fps=self.sample_fps or 1.0, keep_lost_s=keep_lost_s)
        self.engine: OccupancyEngine | None = None
        self._rest_frames: dict[int, Frame] = {}
        self._active: dict[int, ViolationRecord] = {}
        ring = math.ceil(self.clip_pre_s * self.sample_fps) + 1 if self.sample_fps else 0
        self._ring: deque[np.ndarray] = deque(maxlen=ring)
        self._clips: list[_PendingClip] = []
        self.gate: MotionGate | None = None
        self._pending_reconfigure = False
        self._last_detections = (Detections.empty(), Detections.empty())

    def _configure(self, width: int, height: int) -> None:
        """Fit zones to the frames actually received and (re)build the occupancy engine and the gate."""
        if (width, height) != self.camera.frame_size:
            log.warning(
                "%s: frames are %dx%d but zones were drawn on %dx%d; scaling the zones",
                self.camera.camera_id, width, height, *self.camera.frame_size,
            )
            self.camera = self.camera.scaled_to(width, height)
        if self.engine is None:
            self.engine = OccupancyEngine(self.camera, self.rules)
        else:
            for event in self.engine.reconfigure(self.camera):
                self._handle(event, None, None)
        self.gate = None
        if self.gate_max_skip_s is not None and self.sample_fps:
            polygons = [z.polygon for z in self.camera.zones]
            self.gate = MotionGate(polygons, self.camera.frame_size, max_skip_s=self.gate_max_skip_s)

    def replace_zones(self, camera: CameraZones) -> None:
        """Zones edited while running: unchanged zones keep their state, changed ones start afresh."""
        self.camera = camera
        self._pending_reconfigure = True

    def process(self, frame: Frame) -> FrameResult:
        height, width = frame.image.shape[:2]
        if self.engine is None or self._pending_reconfigure:
            self._pending_reconfigure = False
            self._configure(width, height)
        with self.times.measure("gate"):
            run_detector = self.gate is None or self.gate.needs_detection(frame.image, frame.captured_at)
        if run_detector:
            with self.times.measure("detect"):
                detections = self.detector.detect(frame.image, imgsz=self.camera.imgsz)
            with self.times.measure("track"):
                tracked = self.tracker.update(detections.of_categories())
            self._last_detections = (detections, tracked)
        else:  # nothing moved around the zones: what was there is still there
            detections, tracked = self._last_detections
        with self.times.measure("zones"):
            events = self.engine.update(frame.captured_at, tracked)
        with self.times.measure("evidence"):
            self._after_occupancy(frame, events)
        return FrameResult(frame, detections, events)

    def _after_occupancy(self, frame: Frame, events: list[OccupancyEvent]) -> None:
        assert self.engine is not None
        small = self._clip_frame(frame.image) if self.sample_fps else None
        if small is not None:
            self._extend_clips(small, frame.captured_at)
        for event in events:
            self._handle(event, frame, small)
        current = {occ.key: occ for occ in self.engine.occupants()}
        for key, record in self._active.items():
            record.occupant = current[key]
            if record.occupant.last_seen == frame.captured_at:
                record.latest_frame = frame
        if small is not None:
            self._ring.append(small)

    def finish(self) -> None:
        """The source ended: settle evidence of violations still going on (their ``ended_at`` stays null)."""
        for clip in list(self._clips):
            self._write_clip(clip)
        for record in self._active.values():
            self._add_latest(record, "latest")
            self._save(record, final=True)
        self._active.clear()
        self._rest_frames.clear()

    def _handle(self, event: OccupancyEvent, frame: Frame | None, small: np.ndarray | None) -> None:
        occ = event.occupant
        if event.kind in ("entered", "moved") and frame is not None:
            self._rest_frames[occ.key] = frame
        elif event.kind == "left":
            self._rest_frames.pop(occ.key, None)
        elif event.kind == "violation_started" and frame is not None:
            self._start(occ, frame, small)
        elif event.kind == "violation_ended":
            record = self._active.pop(occ.key)
            record.occupant = occ
            record.ended_at = event.at
            for clip in [c for c in self._clips if c.record is record]:
                self._write_clip(clip)
            self._add_latest(record, "last")
            self._save(record, final=True)

    def _start(self, occ: Occupant, frame: Frame, small: np.ndarray | None) -> None:
        zone = next(z for z in self.camera.zones if z.id == occ.zone_id)
        started_at = occ.still_since
        key = f"{self.camera.camera_id}|{zone.id}|{started_at.isoformat()}|{occ.key}|{self.source}"
        violation_id = uuid.uuid5(_ID_NAMESPACE, key).hex
        local_start = started_at.astimezone(self.camera.timezone)
        folder = Path(self.camera.camera_id) / f"{local_start:%Y%m%d-%H%M%S}-{zone.id}-{violation_id[:8]}"
        evidence = EvidenceSet(self.evidence_root, folder, self.camera, zone, self.font_path)
        record = ViolationRecord(violation_id, self.camera, zone, occ, started_at, frame.captured_at, self.source, evidence)
        rest = self._rest_frames.pop(occ.key, frame)
        evidence.add_still(1, "begin", rest.image, rest.captured_at, replace(occ, box=occ.rest_box))
        evidence.add_still(2, "grace", frame.image, frame.captured_at, occ)
        evidence.add_crop(frame.image, occ.box, frame.captured_at)
        record.latest_frame = frame
        self._active[occ.key] = record
        self.violations.append(record)
        if small is not None:
            frames = [*self._ring, small]
            self._clips.append(_PendingClip(record, frames, frame.captured_at + timedelta(seconds=self.clip_post_s)))
        self._save(record, final=False)
        log.info("violation %s: %s in %s since %s", violation_id[:8], occ.class_name, zone.name, started_at.isoformat())

    def _add_latest(self, record: ViolationRecord, role: str) -> None:
        frame = record.latest_frame
        if frame is not None:
            record.evidence.add_still(3, role, frame.image, frame.captured_at, record.occupant)

    def _clip_frame(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        if width <= CLIP_WIDTH:
            return image
        return cv2.resize(image, (CLIP_WIDTH, round(height * CLIP_WIDTH / width)), interpolation=cv2.INTER_AREA)

    def _extend_clips(self, small: np.ndarray, at: datetime) -> None:
        for clip in list(self._clips):
            clip.frames.append(small)
            if at >= clip.until:
                self._write_clip(clip)

    def _write_clip(self, clip: _PendingClip) -> None:
        self._clips.remove(clip)
        assert self.sample_fps is not None
        clip.record.evidence.add_clip(clip.frames, self.sample_fps, clip.record.violation_at)
        if clip.record.ended_at is None:  # an ended violation saves once, after its last still
            self._save(clip.record, final=False)

    def _save(self, record: ViolationRecord, final: bool) -> None:
        record.evidence.write_manifest({**record.facts(), "final": final})
        start = time.perf_counter()
        for store in self.stores:
            store.save(record, final)
        self.times.add("database", time.perf_counter() - start)
