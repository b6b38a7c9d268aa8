"""Live cameras inside the server: one worker thread per enabled camera, all sharing one loaded model.

The supervisor reconciles the workers with the database every few seconds: it starts workers for cameras that
were enabled, stops those disabled or deleted, and hands edited zones to running workers, which take them at
their next frame without a restart. A camera whose stream fails is retried with back-off; it never takes the
other cameras down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol
from datetime import datetime

import cv2
import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from detector.backends import Detector
from detector.detections import Detections
from detector.sources import STREAM_SCHEMES, SourceError, StreamSource, open_source
from service.camera.pipeline import CameraPipeline
from service.camera.plates import plate_options
from service.camera.snapshot import snapshot_file, write_snapshot
from service.camera.spool import Spool
from service.camera.store import DatabaseStore, DatabaseUnavailable
from service.db.camera_states import HEARTBEAT_S
from service.db.errors import OutageLog
from service.db.models import Camera
from service.db.zones import current_zones
from service.evidence_store import evidence_store, snapshot_key
from service.settings import Settings
from service.signing import ManifestSigner
from zones.config import CameraZones, ZoneFileError, parse_zones
from zones.geometry import footprint_overlap

log = logging.getLogger(__name__)
SNAPSHOT_EVERY_S = 10.0


class SharedDetector:
    """One model for every camera of the process; calls are serialised (the predictor is not thread-safe)."""

    def __init__(self, detector: Detector):
        self._detector = detector
        self._lock = threading.Lock()
        self.name = detector.name
        self.class_names = detector.class_names

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        with self._lock:
            return self._detector.detect(image, imgsz=imgsz)


WATCHING_STATES = ("starting", "running")  # the worker sees its camera (reconnecting: the stream is lost)


class ZoneStateCallback(Protocol):
    """Hands a camera's zone states to whoever publishes them (MQTT); ``stale``: nobody watches them now."""

    def __call__(self, camera_id: str, zones: list[dict], stale: bool = False) -> None: ...


@dataclass
class CameraStatus:
    """What the UI shows of a running camera: health and the latest detections with the zones they occupy."""

    camera_id: str
    state: str = "starting"  # starting | running | reconnecting | error | stopped
    frames: int = 0
    last_frame_at: datetime | None = None
    error: str | None = None
    zone_version: int | None = None
    recording_start: datetime | None = None  # a recorded file's first frame: what its capture times count from
    recording_start_origin: str | None = None  # "given" (the camera's field), "file name" or "file time"
    objects: list[dict] = field(default_factory=list)
    zones: list[dict] = field(default_factory=list)


def _describe(camera: CameraZones, detections: Detections, occupants) -> tuple[list[dict], list[dict]]:
    overlaps = {z.id: footprint_overlap(detections.xyxy, z.polygon) for z in camera.zones}
    objects = []
    for i in range(len(detections)):
        name, category = str(detections.class_name[i]), str(detections.category[i])
        inside = [z.id for z in camera.zones if z.accepts(name, category) and overlaps[z.id][i] >= z.min_overlap]
        objects.append({"class": name, "category": category, "score": round(float(detections.confidence[i]), 3),
                        "box": [round(float(v), 1) for v in detections.xyxy[i]], "zones": inside})
    zones = []
    for zone in camera.zones:
        present = [o for o in occupants if o.zone_id == zone.id]
        zones.append({"id": zone.id, "name": zone.name, "occupied": bool(present),
                      "violations": sum(o.in_violation for o in present),
                      "longest_dwell_s": round(max((o.dwell_s for o in present), default=0.0), 1)})
    return objects, zones


def _occupancy(zones: list[dict]) -> list[tuple]:
    return [(z["id"], z["occupied"], z["violations"]) for z in zones]


class CameraWorker(threading.Thread):
    """One camera: its pipeline lives as long as the worker, across stream drops and reconnects.

    The pipeline checkpoints its state through ``store``; after an error the worker builds a new pipeline, which
    resumes from that checkpoint, so a failure inside the pipeline loses nothing that was checkpointed either.
    """

    def __init__(self, camera_id: str, source_url: str, fps: float, zones: CameraZones, zone_version: int,
                 detector: SharedDetector, store: DatabaseStore, settings: Settings, signer: ManifestSigner,
                 on_zone_state: ZoneStateCallback | None = None,
                 recording_start: datetime | None = None):
        super().__init__(name=f"camera-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.source_url = source_url
        self.recording_start = recording_start  # a recorded file's first frame (None: its name, else its file time)
        self.fps = fps
        self.zones = zones
        self.detector = detector
        self.store = store
        self.settings = settings
        self.signer = signer
        self.on_zone_state = on_zone_state
        self.status = CameraStatus(camera_id, zone_version=zone_version)
        self._halt = threading.Event()
        self._end_open = False
        self._new_zones: tuple[CameraZones, int] | None = None
        self._reported_at = 0.0
        self._published_stale = False  # its zones went out stale: the next frame publishes them, changed or not
        self.snapshot_path = snapshot_file(settings.out_dir, camera_id)

    def update_zones(self, zones: CameraZones, version: int) -> None:
        self._new_zones = (zones, version)

    def stop(self, end_open: bool = False) -> None:
        """Stop after the current frame. Open violations stay in the checkpoint for the camera to resume, unless
        ``end_open`` (the camera was disabled or deleted: nobody will watch them again), which ends them at their
        last sighting."""
        self._end_open = end_open
        self._halt.set()

    def _set_state(self, state: str, error: str | None = None, report: bool = False) -> None:
        """Written to the shared camera state when it changes, or when ``report`` (zones changed, heartbeat due):
        any API process shows it from there, and the cluster's leader relays the zone states to MQTT unless this
        worker publishes them itself (``on_zone_state``). A worker that publishes them says so when it stops
        watching (stream lost, error, stopped): its zones go out once more as stale, the occupancy as last seen,
        so no retained state claims a lane is clear while nobody looks; its next frame publishes them afresh."""
        if (state, error) != (self.status.state, self.status.error) or report:
            was_watching = self.status.state in WATCHING_STATES
            self.status.state, self.status.error = state, error
            self.store.set_status(self.camera_id, state, error, self.status.last_frame_at, self.status.zones,
                                  publishes_zone_states=self.on_zone_state is not None)
            self._reported_at = time.monotonic()
            if self.on_zone_state and self.status.zones and was_watching and state not in WATCHING_STATES:
                self.on_zone_state(self.camera_id, self.status.zones, stale=True)
                self._published_stale = True

    def _open(self):
        if self.source_url.lower().startswith(STREAM_SCHEMES):
            return StreamSource(self.source_url, self.fps, self.zones.timezone, backoff_s=(1.0, 10.0),
                                sleep=self._halt.wait, stopped=self._halt.is_set,
                                on_status=lambda state, reason: self._set_state(state, reason))
        source = open_source(self.source_url, fps=self.fps, tz=self.zones.timezone, start=self.recording_start)
        self.status.recording_start = getattr(source, "start", None)
        self.status.recording_start_origin = getattr(source, "start_origin", None)
        return source

    def _new_pipeline(self, source) -> CameraPipeline:
        return CameraPipeline(self.zones, self.detector, evidence_store(self.settings), [self.store],
                              source.description, sample_fps=source.sample_fps, clip_pre_s=self.settings.clip_pre_s,
                              clip_post_s=self.settings.clip_post_s, font_path=self.settings.font,
                              state_store=self.store, keep_settled=False, signer=self.signer,
                              **plate_options(self.settings))

    def run(self) -> None:
        failures = 0
        pipeline: CameraPipeline | None = None
        while not self._halt.is_set():
            try:
                source = self._open()
                pipeline = pipeline or self._new_pipeline(source)
                if not self._consume(source, pipeline):  # a recorded file was played to its end
                    pipeline.finish(settle=True)
                    self._set_state("finished")
                    return
                failures = 0
            except (SourceError, OSError, cv2.error, DatabaseUnavailable) as error:
                failures += 1
                pipeline = None  # the next one resumes from the last checkpoint
                self._set_state("error", str(error))
                log.warning("camera %s: %s", self.camera_id, error)
            except Exception as error:  # one camera's bug must not end the others
                failures += 1
                pipeline = None
                self._set_state("error", f"{type(error).__name__}: {error}")
                log.exception("camera %s failed", self.camera_id)
            self._halt.wait(min(2.0 * 2 ** min(failures, 5), 60.0))
        if pipeline is not None:
            try:
                if self._end_open:
                    pipeline.end_open_violations()
                pipeline.finish(settle=False)
            except Exception:  # noqa: BLE001 - the last checkpoint stands
                log.exception("camera %s: could not checkpoint on stop", self.camera_id)
        self._set_state("stopped")

    def _consume(self, source, pipeline: CameraPipeline) -> bool:
        """Process frames until the worker stops or the source ends; True when it is live (reopen it)."""
        last_snapshot = 0.0
        last_state: list[dict] | None = None
        for frame in source.frames():
            if self._halt.is_set():
                break
            if self._new_zones is not None:
                zones, version = self._new_zones
                self._new_zones = None
                pipeline.replace_zones(zones)
                self.zones, self.status.zone_version = zones, version
                log.info("camera %s: zones version %d applied", self.camera_id, version)
            result = pipeline.process(frame)
            assert pipeline.engine is not None
            objects, zone_states = _describe(pipeline.camera, result.detections, pipeline.engine.occupants())
            report = (_occupancy(zone_states) != _occupancy(self.status.zones)  # not each second of dwell
                      or time.monotonic() - self._reported_at >= HEARTBEAT_S)
            self.status.objects, self.status.zones = objects, zone_states
            self.status.frames += 1
            self.status.last_frame_at = frame.captured_at
            self._set_state("running", report=report)
            if time.monotonic() - last_snapshot >= SNAPSHOT_EVERY_S:
                self._write_snapshot(frame.image)
                last_snapshot = time.monotonic()
            if self.on_zone_state and (zone_states != last_state or self._published_stale):
                self.on_zone_state(self.camera_id, zone_states)
                last_state, self._published_stale = zone_states, False
        return source.live

    def _write_snapshot(self, image: np.ndarray) -> None:
        """The latest frame, for operators drawing zones."""
        try:
            write_snapshot(self.snapshot_path, image)
            if self.settings.evidence_url:  # shared: API processes on other machines show it too
                evidence_store(self.settings).put(snapshot_key(self.camera_id), self.snapshot_path.read_bytes())
        except OSError as error:  # a full disk or object storage down costs the snapshot, not the camera
            log.warning("camera %s: snapshot not written: %s", self.camera_id, error.strerror or error)


def load_configured_detector(settings: Settings) -> Detector:
    """The model the settings name (or the one resolved), as every camera of a process or a node uses it."""
    from detector.resolve import load_detector

    return load_detector(settings.model, models_dirs=settings.models_dirs, imgsz=settings.imgsz, conf=settings.conf,
                         class_map=settings.class_map(), allow_download=settings.allow_download,
                         export_openvino=settings.export_openvino)


@dataclass(frozen=True)
class WantedCamera:
    """An enabled camera with valid current zones: what a worker (or a cluster's camera actor) runs."""

    camera_id: str
    source_url: str
    fps: float
    zones: CameraZones
    zone_version: int
    recording_start: datetime | None = None  # a recorded file's first frame, when the operator gave it


class CameraPlan(NamedTuple):
    wanted: dict[str, WantedCamera]  # the enabled cameras that can run
    problems: dict[str, str]  # why the other enabled ones cannot (no zones, invalid zones)
    site_codes: dict[str, str]  # every enabled camera's site code (MQTT topics), running or not


def wanted_cameras(session: Session, camera_id: str | None = None) -> CameraPlan:
    """What should run: every enabled camera, or the one ``camera_id``."""
    plan = CameraPlan({}, {}, {})
    wanted, problems = plan.wanted, plan.problems
    query = select(Camera).where(Camera.enabled.is_(True))
    if camera_id is not None:
        query = query.where(Camera.id == camera_id)
    for camera in session.scalars(query):
        plan.site_codes[camera.id] = camera.site.code
        version = current_zones(session, camera.id)
        if version is None:
            problems[camera.id] = "no zones drawn yet"
            continue
        try:
            document = {**version.document, "camera_id": camera.id, "timezone": camera.timezone}
            if camera.imgsz:
                document["imgsz"] = camera.imgsz
            zones = parse_zones(document, f"camera {camera.id} zones v{version.version}")
        except ZoneFileError as error:
            problems[camera.id] = str(error)
            continue
        wanted[camera.id] = WantedCamera(camera.id, camera.source_url, camera.fps, zones, version.version,
                                         camera.recording_start)
    return plan


class WorkerSupervisor:
    def __init__(self, settings: Settings, engine: Engine, detector_factory: Callable[[], Detector],
                 on_zone_state: ZoneStateCallback | None = None):
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        self._detector_factory = detector_factory
        self._detector: SharedDetector | None = None
        self.on_zone_state = on_zone_state
        self.workers: dict[str, CameraWorker] = {}
        self.problems: dict[str, str] = {}  # camera id → why it is not running (no zones, invalid zones)
        self.site_codes: dict[str, str] = {}  # camera id → its site's code (MQTT topics), as of the last sync
        self.signer = ManifestSigner.load_or_create(settings.signing_key_path)
        # One store (and spool) per camera, kept after its worker stops so what waits in the spool still drains;
        # spools left by an earlier process are picked up here too.
        self.stores: dict[str, DatabaseStore] = {}
        if settings.spool_root.is_dir():
            for folder in sorted(p for p in settings.spool_root.iterdir() if p.is_dir()):
                self.store_for(folder.name)

    def store_for(self, camera_id: str) -> DatabaseStore:
        if camera_id not in self.stores:
            spool = Spool(self.settings.spool_root / camera_id)
            self.stores[camera_id] = DatabaseStore(engine=self.engine, spool=spool, inline=False)
        return self.stores[camera_id]

    def flush_spools(self) -> int:
        """Write what waits in the spools to the database (each store keeps its own back-off)."""
        return sum(store.flush() for store in list(self.stores.values()))

    @property
    def detector(self) -> SharedDetector:
        if self._detector is None:  # loaded on first need: a server with no camera needs no model
            self._detector = SharedDetector(self._detector_factory())
        return self._detector

    def status(self, camera_id: str) -> CameraStatus | None:
        worker = self.workers.get(camera_id)
        return worker.status if worker else None

    def sync(self) -> None:
        """Make the running workers match the enabled cameras and their current zones."""
        with self.sessions() as session:
            wanted, self.problems, site_codes = wanted_cameras(session)
        self.site_codes.update(site_codes)
        for camera_id in list(self.workers):
            worker = self.workers[camera_id]
            camera = wanted.get(camera_id)
            if camera is None or (camera.source_url, camera.fps, camera.recording_start) != (
                    worker.source_url, worker.fps, worker.recording_start):
                worker.stop(end_open=camera is None)  # a changed URL resumes at once; a disabled camera ends
                worker.join(timeout=15)
                del self.workers[camera_id]
            elif camera.zone_version != worker.status.zone_version:
                worker.update_zones(camera.zones, camera.zone_version)
        for camera_id, camera in wanted.items():
            if camera_id not in self.workers:
                worker = CameraWorker(camera_id, camera.source_url, camera.fps, camera.zones, camera.zone_version,
                                      self.detector, self.store_for(camera_id), self.settings, self.signer,
                                      self.on_zone_state, recording_start=camera.recording_start)
                self.workers[camera_id] = worker
                worker.start()

    def run_forever(self, stop: threading.Event, interval_s: float = 2.0, flush_s: float = 1.0) -> None:
        """Reconcile workers every ``interval_s`` and drain the spools every ``flush_s`` until ``stop``."""
        next_sync = 0.0
        outage = OutageLog(log, "camera supervisor (cameras keep running, their saves spool)")
        while not stop.is_set():
            if time.monotonic() >= next_sync:
                try:
                    self.sync()
                except Exception as error:  # keep supervising whatever one sync hit
                    outage.failed(error)
                else:
                    outage.ok()
                next_sync = time.monotonic() + interval_s
            try:
                self.flush_spools()
            except Exception:  # noqa: BLE001 - retried next round
                log.exception("camera supervisor: spool flush failed")
            stop.wait(flush_s)
        self.stop_all()
        self.flush_spools()

    def stop_all(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            worker.join(timeout=15)
        self.workers.clear()
