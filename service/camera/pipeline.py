"""One camera's stages wired together: detect → track → zone occupancy → violations with evidence → stores.

Each stage hands the next one plain values (``Frame``, ``Detections``, ``OccupancyEvent``), so stages can be
timed, swapped or run elsewhere; this module only keeps what evidence needs: the frame in which each occupant
came to rest, the latest frame of each violator, and a short ring of frames for clips.

Durable state. With a ``state_store`` the pipeline checkpoints its occupancy state and its open violations (their
evidence so far) as they change, and a new pipeline of the same camera, in this process or another, resumes from
the latest checkpoint at its first frame: an open violation whose object is still there goes on under the same id;
one not seen for its zone's ``leave_s`` (the camera was away that long) ends at its last sighting. Frames of
objects waiting out their grace time are kept beside the evidence so their "begin" still survives too.
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
from shapely.geometry import Polygon

from detector.backends import Detector
from detector.appearance import LaneAppearance
from detector.detections import OBSTRUCTION, VEHICLE, Detections
from detector.gate import MotionGate
from detector.sizing import inference_size
from detector.tiling import TiledDetector, TileMode
from detector.sources import Frame
from detector.tracking import ObjectTracker
from service.camera.obstructions import ObstructionFinder
from service.camera.plates import PlateReaderLike, PlateResult, ViolationPlate
from service.evidence import ChainLink, EvidenceSet, chain_head
from service.evidence_store import EvidenceMissing, EvidenceStore, LocalEvidenceStore
from service.signing import ManifestSigner
from service.timing import StageTimes
from zones.calibration import GroundCalibration, clear_width, footprint_polygon
from zones.config import CameraZones, Zone
from zones.occupancy import MotionRules, OccupancyEngine, OccupancyEvent, Occupant
from zones.schedule import Schedule

log = logging.getLogger(__name__)

_ID_NAMESPACE = uuid.UUID("6f1c3a52-0d1e-4f57-9a51-6b1f2e4c9d10")
CLIP_WIDTH = 960
CHECKPOINT_FORMAT = 1
WAITING_DIR = "_waiting"  # per camera, beside its evidence: frames of occupants still in their grace time
LANE_REFERENCE = "_lane/reference.npz"  # per camera, beside its evidence: the learnt empty lane
LANE_SAVE_S = 60.0  # capture time between saves of the empty lane, while anything is in a zone
LANE_MAX_AGE_S = 20 * 60.0  # an older empty lane is not trusted after a restart: light and scene moved on


def zone_to_json(zone: Zone) -> dict:
    return {"id": zone.id, "name": zone.name, "kind": zone.kind, "polygon": list(zone.polygon.exterior.coords)[:-1],
            "grace_s": zone.grace_s, "classes": sorted(zone.classes), "min_overlap": zone.min_overlap,
            "leave_s": zone.leave_s, "windows": [list(w) for w in zone.schedule.windows],
            "ground": zone.ground.to_json() if zone.ground is not None else None}


def zone_from_json(data: dict) -> Zone:
    """The zone a violation was recorded in, even after an operator changed or removed it."""
    return Zone(data["id"], data["name"], data["kind"], Polygon(data["polygon"]), float(data["grace_s"]),
                frozenset(data["classes"]), float(data["min_overlap"]), float(data["leave_s"]),
                Schedule(tuple((int(a), int(b)) for a, b in data["windows"])),
                GroundCalibration.from_json(data["ground"]) if data.get("ground") else None)


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
    latest_still_at: datetime | None = None  # capture time of the latest still written while it goes on
    clear_width_m: float | None = None  # calibrated lanes: the narrowest clear width seen while it went on
    severity: str | None = None  # "blocked" (under the zone's minimum) or "narrowed"
    plate: ViolationPlate = field(default_factory=ViolationPlate)  # its vehicle's plate, read across frames

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
            "evidence_complete": self.evidence.complete,
            "clear_width_m": self.clear_width_m,
            "severity": self.severity,
            "plate": self.plate.reported.to_json() if self.plate.reported else None,
        }

    def db_fields(self) -> dict:
        """The columns of its ``violations`` row."""
        return {
            **self._identity(),
            "started_at": self.started_at,
            "violation_at": self.violation_at,
            "ended_at": self.ended_at,
            "last_seen_at": self.occupant.last_seen,
            "duration_s": self.duration_s,
            "box": [float(v) for v in self.occupant.box],
            "evidence_dir": self.evidence.relative_dir.as_posix(),
            "manifest_sha256": self.evidence.manifest_sha256,
            "evidence_complete": self.evidence.complete,
            "evidence_problem": "; ".join(self.evidence.problems)[:4000] or None,
            "clear_width_m": self.clear_width_m,
            "severity": self.severity,
            "plate_read": self.plate.reported.text if self.plate.reported else None,
            "plate_read_confidence": self.plate.reported.confidence if self.plate.reported else None,
            "plate_read_colour": self.plate.reported.colour if self.plate.reported else None,
        }

    def width_note(self) -> str | None:
        """The clear width line of its stills, in calibrated lanes."""
        if self.clear_width_m is None or self.zone.ground is None:
            return None
        verdict = "堵塞 blocked" if self.severity == "blocked" else "变窄 narrowed"
        return f"剩余通行宽度 {self.clear_width_m:.1f} m（最低 {self.zone.ground.min_clear_width_m:.1f} m）{verdict}"

    def state(self) -> dict:
        """What a restarted camera needs to go on with this violation (no frames: they are in the evidence)."""
        return {"id": self.id, "zone": zone_to_json(self.zone), "occupant": self.occupant.to_json(),
                "started_at": self.started_at.isoformat(), "violation_at": self.violation_at.isoformat(),
                "source": self.source, "evidence": self.evidence.state(),
                "latest_still_at": self.latest_still_at.isoformat() if self.latest_still_at else None,
                "clear_width_m": self.clear_width_m, "severity": self.severity,
                "plate": self.plate.result.to_json() if self.plate.result else None}


class ViolationStore(Protocol):
    def save(self, record: ViolationRecord, final: bool) -> None:
        """Called when a violation starts or its evidence grows (final=False) and once when it is settled."""


class StateStore(Protocol):
    def save_checkpoint(self, camera_id: str, state: dict, capture_at: datetime | None) -> None: ...

    def load_checkpoint(self, camera_id: str) -> dict | None: ...


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
    evidence_root: Path | EvidenceStore  # a folder, or the installation's store (service.evidence_store)
    stores: list[ViolationStore]
    source: str
    sample_fps: float | None = None  # None: stills, no clips
    clip_pre_s: float = 8.0
    clip_post_s: float = 8.0
    font_path: Path | None = None
    rules: MotionRules = field(default_factory=MotionRules)
    gate_max_skip_s: float | None = 5.0  # None: run the detector on every frame
    state_store: StateStore | None = None  # None: nothing is checkpointed or resumed
    checkpoint_every_s: float = 2.0  # capture time between checkpoints while anything is in a zone
    latest_every_s: float = 30.0  # capture time between "latest" stills of a violation that goes on
    keep_settled: bool = True  # False for long-running cameras: settled records are not kept in ``violations``
    find_obstructions: bool = True  # also what no detector class names (the lane's empty-appearance model)
    signer: ManifestSigner | None = None  # signs every manifest (None: unsigned, as in evaluation runs)
    tiles: TileMode = "auto"  # zone tiles for small objects (a detector already tiled is used as it is)
    plate_reader: PlateReaderLike | None = None  # reads the plates of vehicles in violation (None: not read)
    plate_every_s: float = 10.0  # capture time between readings of one violation's plate
    plate_max_readings: int = 6  # readings per violation at most
    plate_min_confidence: float = 0.3  # a voted plate less sure than this is not reported
    violations: list[ViolationRecord] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)

    def __post_init__(self) -> None:
        keep_lost_s = max(z.leave_s for z in self.camera.zones)
        self.tracker = ObjectTracker(fps=self.sample_fps or 1.0, keep_lost_s=keep_lost_s)
        self.engine: OccupancyEngine | None = None
        self._rest_frames: dict[int, Frame] = {}
        self._waiting_on_disk: dict[int, datetime] = {}  # occupant key → capture time of the rest frame written
        self._active: dict[int, ViolationRecord] = {}
        ring = math.ceil(self.clip_pre_s * self.sample_fps) + 1 if self.sample_fps else 0
        self._ring: deque[np.ndarray] = deque(maxlen=ring)
        self._clips: list[_PendingClip] = []
        self.gate: MotionGate | None = None
        self._pending_reconfigure = False
        self._last_detections = (Detections.empty(), Detections.empty())
        self._checkpoint_at: datetime | None = None
        self.obstructions: ObstructionFinder | None = None
        self._lane_saved_at: datetime | None = None
        self._chain_head: ChainLink | None = None  # the camera's last settled manifest
        self._chain_known = False  # False: not checkpointed nor settled here yet (the store is asked at need)
        self.evidence_store: EvidenceStore = (LocalEvidenceStore(self.evidence_root)
                                              if isinstance(self.evidence_root, Path) else self.evidence_root)

    @property
    def open_violations(self) -> list[ViolationRecord]:
        return list(self._active.values())

    def _configure(self, width: int, height: int, at: datetime) -> None:
        """Fit zones to the frames actually received and (re)build the occupancy engine and the gate."""
        if (width, height) != self.camera.frame_size:
            log.warning(
                "%s: frames are %dx%d but zones were drawn on %dx%d; scaling the zones",
                self.camera.camera_id, width, height, *self.camera.frame_size,
            )
            self.camera = self.camera.scaled_to(width, height)
        if self.engine is None:
            self.engine = OccupancyEngine(self.camera, self.rules)
            if self.state_store is not None:
                self._resume(at)
        else:
            for event in self.engine.reconfigure(self.camera):
                self._handle(event, None, None)
        polygons = [z.polygon for z in self.camera.zones]
        # sized to the camera: never above the frame's own size, no smaller than its zones' objects need; zones
        # whose objects stay small even so are also looked at through enlarged tiles (detector.tiling, "auto")
        self._imgsz = self.camera.imgsz or inference_size((width, height), polygons)
        self._zone_detector = (self.detector if self.tiles == "off" or isinstance(self.detector, TiledDetector)
                               else TiledDetector(self.detector, (width, height), polygons, tiles=self.tiles))
        if self.find_obstructions:  # (re)learn the empty lane for these zones
            appearance = LaneAppearance(self.camera.frame_size, polygons)
            if self.state_store is not None and self.obstructions is None:  # a (re)start: the lane saved before
                self._restore_lane(appearance, at)
            self.obstructions = ObstructionFinder(appearance, self.detector)
        self.gate = None
        if self.gate_max_skip_s is not None and self.sample_fps:
            self.gate = MotionGate(polygons, self.camera.frame_size, max_skip_s=self.gate_max_skip_s)

    def replace_zones(self, camera: CameraZones) -> None:
        """Zones edited while running: unchanged zones keep their state, changed ones start afresh."""
        self.camera = camera
        self._pending_reconfigure = True

    def process(self, frame: Frame) -> FrameResult:
        height, width = frame.image.shape[:2]
        if self.engine is None or self._pending_reconfigure:
            self._pending_reconfigure = False
            self._configure(width, height, frame.captured_at)
        assert self.engine is not None
        if self.engine.last_at is not None and frame.captured_at < self.engine.last_at:
            return FrameResult(frame, Detections.empty(), [])  # already taken before a restart (a replayed file)
        with self.times.measure("gate"):
            run_detector = self.gate is None or self.gate.needs_detection(frame.image, frame.captured_at)
        if run_detector:
            with self.times.measure("detect"):
                detections = self._zone_detector.detect(frame.image, imgsz=self._imgsz)
            with self.times.measure("track"):
                tracked = self.tracker.update(detections.of_categories())
            self._last_detections = (detections, tracked)
        else:  # nothing moved around the zones: what was there is still there
            detections, tracked = self._last_detections
        if self.obstructions is not None:
            with self.times.measure("obstructions"):
                tracked = Detections.concat(tracked, self.obstructions.find(frame.image, frame.captured_at, detections))
        with self.times.measure("zones"):
            # Regular sources (video, streams) look every 1/fps s: a longer stretch without frames is a gap, and
            # what was not seen for leave_s across it cannot be said to have stayed. Stills are minutes apart
            # by nature, so there only a frame that does not show the object counts.
            events = self.engine.expire(frame.captured_at) if self.sample_fps else []
            events += self.engine.update(frame.captured_at, tracked)
        with self.times.measure("evidence"):
            self._after_occupancy(frame, events)
        if self.state_store is not None:
            with self.times.measure("checkpoint"):
                self._maybe_checkpoint(frame.captured_at, events)
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
                self._measure_clear_width(record, current.values(), frame.captured_at)
                plate_changed = self._read_plate(record, frame)
                since = record.latest_still_at or record.violation_at
                if (frame.captured_at - since).total_seconds() >= self.latest_every_s:
                    self._add_latest(record, "latest")
                    self._save(record, final=False)
                elif plate_changed:
                    self._save(record, final=False)
        if small is not None:
            self._ring.append(small)

    def finish(self, settle: bool = True) -> None:
        """The source ended or the camera stops. ``settle``: violations still going on are settled (their
        ``ended_at`` stays null), as a run over a recording wants; otherwise they stay open in the checkpoint,
        for the camera to resume (a server stopping, a camera moving)."""
        for clip in list(self._clips):
            self._write_clip(clip)
        if settle:
            for record in self._active.values():
                self._add_latest(record, "latest")
                self._save(record, final=True)
                self._forget(record)
            self._active.clear()
            self._rest_frames.clear()
        if self.state_store is not None and self.engine is not None and self.engine.last_at is not None:
            self._checkpoint(self.engine.last_at)

    def end_open_violations(self) -> None:
        """The camera stops watching for good (disabled, deleted): what it watched ends at its last sighting."""
        if self.engine is not None:
            for event in self.engine.end_all():
                self._handle(event, None, None)

    def _handle(self, event: OccupancyEvent, frame: Frame | None, small: np.ndarray | None) -> None:
        occ = event.occupant
        if event.kind in ("entered", "moved") and frame is not None:
            self._rest_frames[occ.key] = frame
        elif event.kind == "left":
            self._rest_frames.pop(occ.key, None)
            self._drop_waiting(occ.key)
        elif event.kind == "violation_started" and frame is not None:
            self._start(occ, frame, small)
        elif event.kind == "violation_ended":
            record = self._active.pop(occ.key)
            record.occupant = occ
            record.ended_at = event.at
            for clip in [c for c in self._clips if c.record is record]:
                self._write_clip(clip)
            if record.latest_frame is not None:
                record.evidence.discard("03-latest")  # the last still supersedes the interim one
                self._add_latest(record, "last")
            self._save(record, final=True)
            self._forget(record)

    def _measure_clear_width(self, record: ViolationRecord, occupants, at: datetime) -> None:
        """In a calibrated lane: the narrowest clear width everything seen in it now leaves (the worst is kept)."""
        zone = next((z for z in self.camera.zones if z.id == record.zone.id), None)
        if zone is None or zone.ground is None:
            return
        outlines = [footprint_polygon(occ.box) for occ in occupants if occ.zone_id == zone.id and occ.last_seen == at]
        width = clear_width(zone.ground, zone.polygon, outlines)
        if width.severity != "clear" and (record.clear_width_m is None or width.min_clear_m < record.clear_width_m):
            record.clear_width_m, record.severity = width.min_clear_m, width.severity

    def _read_plate(self, record: ViolationRecord, frame: Frame) -> bool:
        """A reading of the vehicle's plate when one is due (throttled per violation); the best plate crop goes
        to the evidence. True when what the violation reports about its plate changed."""
        plate = record.plate
        if (self.plate_reader is None or record.occupant.category != VEHICLE
                or not plate.due(frame.captured_at, self.plate_every_s, self.plate_max_readings)):
            return False
        before = plate.reported
        with self.times.measure("plates"):
            plate.read(self.plate_reader, frame.image, record.occupant.box, frame.captured_at)
        written = record.evidence.files.get("plate.jpg")
        if plate.reported is not None and plate.best_crop is not None and (
                written is None or written.captured_at != plate.best_crop_at):
            record.evidence.add_plate(plate.best_crop, plate.best_crop_at)
            return True
        return plate.reported != before

    def _forget(self, record: ViolationRecord) -> None:
        """A settled violation keeps no frames (a long-running camera would otherwise grow without end)."""
        record.latest_frame = None
        record.plate.readings.clear()  # its vote and best crop stay; the crops behind them are not needed
        record.plate.read_at.clear()
        if not self.keep_settled and record in self.violations:
            self.violations.remove(record)

    def _start(self, occ: Occupant, frame: Frame, small: np.ndarray | None) -> None:
        zone = next(z for z in self.camera.zones if z.id == occ.zone_id)
        started_at = occ.still_since
        key = f"{self.camera.camera_id}|{zone.id}|{started_at.isoformat()}|{occ.key}|{self.source}"
        violation_id = uuid.uuid5(_ID_NAMESPACE, key).hex
        local_start = started_at.astimezone(self.camera.timezone)
        folder = Path(self.camera.camera_id) / f"{local_start:%Y%m%d-%H%M%S}-{zone.id}-{violation_id[:8]}"
        evidence = EvidenceSet(self.evidence_store, folder, self.camera, zone, self.font_path, self.signer)
        record = ViolationRecord(violation_id, self.camera, zone, occ, started_at, frame.captured_at, self.source, evidence,
                                 plate=ViolationPlate(min_confidence=self.plate_min_confidence))
        rest = self._rest_frames.pop(occ.key, frame)
        self._drop_waiting(occ.key)
        reference = self.obstructions.appearance.reference() if self.obstructions is not None else None
        if occ.category == OBSTRUCTION and reference is not None:
            evidence.add_before(reference, occ)
        assert self.engine is not None
        self._measure_clear_width(record, self.engine.occupants(), frame.captured_at)
        evidence.add_still(1, "begin", rest.image, rest.captured_at, replace(occ, box=occ.rest_box))
        evidence.add_still(2, "grace", frame.image, frame.captured_at, occ, record.width_note())
        evidence.add_crop(frame.image, occ.box, frame.captured_at)
        self._read_plate(record, frame)
        record.latest_frame = frame
        self._active[occ.key] = record
        if self.keep_settled:
            self.violations.append(record)
        if small is not None:
            frames = [*self._ring, small]
            self._clips.append(_PendingClip(record, frames, frame.captured_at + timedelta(seconds=self.clip_post_s)))
        self._save(record, final=False)
        log.info("violation %s: %s in %s since %s", violation_id[:8], occ.class_name, zone.name, started_at.isoformat())

    def _add_latest(self, record: ViolationRecord, role: str) -> None:
        frame = record.latest_frame
        if frame is not None:
            record.evidence.add_still(3, role, frame.image, frame.captured_at, record.occupant, record.width_note())
            record.latest_still_at = frame.captured_at

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
        chain = None
        if final:  # settled: it joins the camera's chain after the last settled one
            previous = self._last_settled()
            if previous is not None and previous.violation_id == record.id:  # settled again (a rerun)
                previous = record.evidence.previous_link()
            chain = {"camera_id": self.camera.camera_id, "previous": previous.to_json() if previous else None}
        record.evidence.write_manifest({**record.facts(), "final": final}, chain)
        if final and record.evidence.manifest_sha256:
            self._chain_head, self._chain_known = ChainLink(record.id, record.evidence.manifest_sha256), True
        start = time.perf_counter()
        for store in self.stores:
            store.save(record, final)
        self.times.add("database", time.perf_counter() - start)

    def _last_settled(self) -> ChainLink | None:
        """The camera's chain head: as checkpointed or settled here, else read from the evidence store (a camera
        moved to another machine, or started without a checkpoint, continues its chain wherever it was written)."""
        if not self._chain_known:
            try:
                self._chain_head, self._chain_known = chain_head(self.evidence_store, self.camera.camera_id), True
            except OSError as error:  # the store is down: this manifest will not be written either; asked again
                log.error("camera %s: chain head not readable: %s", self.camera.camera_id, error)
        return self._chain_head

    # --- durable state ---

    def _maybe_checkpoint(self, at: datetime, events: list[OccupancyEvent]) -> None:
        assert self.engine is not None
        settled = any(e.kind in ("violation_started", "violation_ended") for e in events)
        changing = bool(events) or bool(self.engine.occupants())
        due = self._checkpoint_at is None or (at - self._checkpoint_at).total_seconds() >= self.checkpoint_every_s
        if settled or (changing and due):
            self._checkpoint(at)

    def _checkpoint(self, at: datetime) -> None:
        assert self.engine is not None and self.state_store is not None
        state = {
            "format": CHECKPOINT_FORMAT,
            "engine": self.engine.snapshot(),
            "violations": [record.state() for record in self._active.values()],
            "waiting": self._write_waiting(),
            "chain_head": self._chain_head.to_json() if self._chain_head else None,
        }
        self.state_store.save_checkpoint(self.camera.camera_id, state, at)
        self._checkpoint_at = at
        if self.obstructions is not None and (self._lane_saved_at is None
                                              or (at - self._lane_saved_at).total_seconds() >= LANE_SAVE_S):
            self._save_lane(at)

    def _lane_key(self) -> str:
        return f"{self.camera.camera_id}/{LANE_REFERENCE}"

    def _save_lane(self, at: datetime) -> None:
        """The empty lane as learnt, with its capture time, beside the camera's evidence (object storage in a
        cluster, so a camera restarted on another node finds it). Saved while something is in a zone: the lane
        model never learns an object into the empty lane, so the picture under it is the lane before it came."""
        assert self.obstructions is not None
        data = self.obstructions.appearance.save()
        if data is None:
            return
        try:
            self.evidence_store.put(self._lane_key(), at.isoformat().encode("ascii") + b"\n" + data)
        except OSError as error:  # a full disk: a restart learns the lane afresh, as before
            log.warning("%s: empty lane not saved: %s", self._lane_key(), error.strerror or error)
            return
        self._lane_saved_at = at

    def _restore_lane(self, appearance: LaneAppearance, at: datetime) -> None:
        try:
            stamp, _, data = self.evidence_store.read(self._lane_key()).partition(b"\n")
            saved_at = datetime.fromisoformat(stamp.decode("ascii"))
        except (EvidenceMissing, ValueError):
            return
        except OSError as error:
            log.warning("%s: empty lane not read: %s", self._lane_key(), error.strerror or error)
            return
        age = (at - saved_at).total_seconds()
        if not 0 <= age <= LANE_MAX_AGE_S:
            log.info("camera %s: the empty lane saved %.0f s before is not used; learning it afresh",
                     self.camera.camera_id, age)
        elif appearance.restore(data):
            self._lane_saved_at = saved_at
            log.info("camera %s: goes on with the empty lane saved %.0f s before", self.camera.camera_id, age)

    def _waiting_key(self, key: int) -> str:
        return f"{self.camera.camera_id}/{WAITING_DIR}/{key}.jpg"

    def _write_waiting(self) -> dict[str, str]:
        """Rest frames of occupants resting a while (not every passer-by) in the evidence store, so "begin" survives
        a restart, on this machine or another."""
        assert self.engine is not None
        grace = {z.id: z.grace_s for z in self.camera.zones}
        written = {}
        for occ in self.engine.occupants():
            frame = self._rest_frames.get(occ.key)
            if occ.in_violation or frame is None or occ.dwell_s < max(2.0, 0.25 * grace[occ.zone_id]):
                continue
            if self._waiting_on_disk.get(occ.key) != frame.captured_at:
                key = self._waiting_key(occ.key)
                try:
                    ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    self.evidence_store.put(key, data.tobytes())
                except OSError as error:  # a full disk: "begin" falls back to the first frame after a restart
                    log.warning("%s: rest frame not kept: %s", key, error.strerror or error)
                    continue
                self._waiting_on_disk[occ.key] = frame.captured_at
            written[str(occ.key)] = frame.captured_at.isoformat()
        for key in [k for k in self._waiting_on_disk if str(k) not in written]:
            self._drop_waiting(key)
        return written

    def _drop_waiting(self, key: int) -> None:
        if self._waiting_on_disk.pop(key, None) is not None:
            try:
                self.evidence_store.delete(self._waiting_key(key))
            except OSError as error:  # an orphan rest frame costs space, nothing else
                log.warning("%s: rest frame not removed: %s", self._waiting_key(key), error)

    def _read_waiting(self, key: int) -> np.ndarray | None:
        try:
            data = self.evidence_store.read(self._waiting_key(key))
        except EvidenceMissing:
            return None
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def _resume(self, at: datetime) -> None:
        """Go on from the camera's latest checkpoint (see the module docstring)."""
        assert self.state_store is not None
        saved = self.state_store.load_checkpoint(self.camera.camera_id)
        if not saved:
            return
        if saved.get("format") != CHECKPOINT_FORMAT:
            log.warning("camera %s: checkpoint format %r unknown; starting afresh",
                        self.camera.camera_id, saved.get("format"))
            return
        self.engine, ended = OccupancyEngine.restore(self.camera, saved["engine"], self.rules)
        self._chain_head = ChainLink.from_json(saved.get("chain_head"))
        self._chain_known = self._chain_head is not None
        for data in saved["violations"]:
            zone = zone_from_json(data["zone"])
            occupant = Occupant.from_json(data["occupant"])
            evidence = EvidenceSet.resume(self.evidence_store, data["evidence"], self.camera, zone, self.font_path,
                                          self.signer)
            record = ViolationRecord(
                data["id"], self.camera, zone, occupant, datetime.fromisoformat(data["started_at"]),
                datetime.fromisoformat(data["violation_at"]), data["source"], evidence,
                latest_still_at=datetime.fromisoformat(data["latest_still_at"]) if data["latest_still_at"] else None,
                clear_width_m=data.get("clear_width_m"), severity=data.get("severity"),
                plate=ViolationPlate(min_confidence=self.plate_min_confidence,
                                     prior=PlateResult.from_json(data.get("plate"))),
            )
            self._active[occupant.key] = record
            if self.keep_settled:
                self.violations.append(record)
        current = {occ.key for occ in self.engine.occupants()}
        for key, captured_at in saved["waiting"].items():
            image = self._read_waiting(int(key)) if int(key) in current else None
            if int(key) in current and image is not None:
                self._rest_frames[int(key)] = Frame(image, datetime.fromisoformat(captured_at), -1)
                self._waiting_on_disk[int(key)] = datetime.fromisoformat(captured_at)
        # Occupants whose violation the engine no longer knows (an older state written with it) end too.
        for key in [k for k in self._active if k not in current and all(e.occupant.key != k for e in ended)]:
            record = self._active[key]
            ended.append(OccupancyEvent("violation_ended", record.occupant.last_seen, record.occupant))
        ended += self.engine.expire(at)
        for event in ended:
            self._handle(event, None, None)
        log.info("camera %s: resumed from its checkpoint: %d open violation(s) go on, %d ended while it was away",
                 self.camera.camera_id, len(self._active), sum(e.kind == "violation_ended" for e in ended))
        self._checkpoint(self.engine.last_at or at)
