"""The Ray actors of cluster mode: one per camera, one detector per node, one supervisor for the whole cluster.

- ``CameraActor`` runs the same ``CameraWorker`` as `firelane serve` does in one process, with its spool on the
  node's own disk (drained by the actor itself, see ``service.cluster.spools``) and its detector the node's.
  Ray restarts it (``max_restarts=-1``) when it or its node dies, on another node if need be; it then resumes from
  the camera's checkpoint in PostgreSQL: an open violation goes on under its id, timers count from capture times.
- ``NodeDetector``: the model, loaded once per node, serving that node's cameras in dynamic batches.
- ``ClusterSupervisor`` (named, detached, on the head node) reconciles the camera table with the camera actors
  every few seconds: starts, stops, moves them and hands them edited zones without a restart.

None of them runs the alert dispatchers, the escalation clock or the reports, nor publishes MQTT zone states: those
belong to the API processes (``service.background``; the zone states are relayed from the shared camera status).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ray
from cryptography.hazmat.primitives import serialization
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from detector.batching import DynamicBatcher
from detector.detections import Detections
from service.camera.spool import Spool
from service.camera.store import DatabaseStore
from service.camera.workers import CameraWorker, load_configured_detector, wanted_cameras
from service.cluster.config import check_cluster_settings
from service.cluster.spools import SpoolLock, drain_orphans, node_spool_root
from service.db.errors import OutageLog
from service.db.session import make_engine, session_factory
from service.settings import Settings
from service.signing import ManifestSigner

log = logging.getLogger(__name__)
NAMESPACE = "firelane"
SUPERVISOR = "firelane-supervisor"
CAMERA_PREFIX = "firelane-camera-"
SYNC_EVERY_S = 3.0
DRAIN_EVERY_S = 0.5  # a camera's saves reach the database within this (what a dying node can still hold)
ORPHANS_EVERY_S = 10.0
CALL_TIMEOUT_S = 60.0
STRANDED_S = 30.0  # an actor silent this long on a node that is gone is started again


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="firelane: %(name)s: %(message)s")
    for noisy in ("alembic", "ultralytics", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def signer_pem(signer: ManifestSigner) -> bytes:
    """The installation's key, handed to the camera actors so every node signs with the same one."""
    return signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())


def _signer(pem: bytes) -> ManifestSigner:
    return ManifestSigner(serialization.load_pem_private_key(pem, password=None))  # type: ignore[arg-type]


def camera_actor_name(camera_id: str) -> str:
    return f"{CAMERA_PREFIX}{camera_id}"


def detector_actor_name(node_id: str) -> str:
    return f"firelane-detector-{node_id}"


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=64)
class NodeDetector:
    """One node's model, shared by the cameras on it: each call waits for its frame's batch (``detect``)."""

    def __init__(self, settings: Settings):
        _log_to_stderr()
        self.batcher = DynamicBatcher(load_configured_detector(settings), settings.detector_batch,
                                      settings.detector_batch_wait_ms / 1000)

    def describe(self) -> tuple[str, list[str]]:
        return self.batcher.name, self.batcher.class_names

    def detect(self, image, imgsz: int | None) -> Detections:
        return self.batcher.detect(image, imgsz)

    def set_max_batch(self, max_batch: int) -> None:
        """For ``firelane bench --ray``: the same loaded model, batched or one frame at a time."""
        self.batcher.max_batch = max(1, max_batch)

    def stats(self) -> dict[str, Any]:
        stats = self.batcher.stats
        return {"batches": stats.batches, "frames": stats.frames, "mean_batch": round(stats.mean_batch, 2)}


def node_detector(node_id: str, settings: Settings):
    """The detector actor of ``node_id``, started there if need be; pinned to its node, it ends with it."""
    return NodeDetector.options(name=detector_actor_name(node_id), namespace=NAMESPACE, lifetime="detached",
                                get_if_exists=True,
                                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
                                ).remote(settings)


class RemoteDetector:
    """The node's detector as a pipeline sees any detector: ``detect(image, imgsz)``, one Ray call per frame."""

    def __init__(self, handle, timeout_s: float = 300.0):
        self.handle = handle
        self.timeout_s = timeout_s
        self.name, self.class_names = ray.get(handle.describe.remote(), timeout=timeout_s)  # waits for the model

    def detect(self, image, imgsz: int | None = None) -> Detections:
        return ray.get(self.handle.detect.remote(image, imgsz), timeout=self.timeout_s)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=4)
class CameraActor:
    """One camera on whichever node Ray placed it: its worker, its node-local spool, its node's detector."""

    def __init__(self, camera_id: str, settings: Settings, key_pem: bytes):
        _log_to_stderr()
        self.camera_id = camera_id
        self.node_id = ray.get_runtime_context().get_node_id()
        self.spool_root = node_spool_root()
        self.folder = self.spool_root / camera_id
        self._lock = SpoolLock(self.folder)
        if not self._lock.acquire(timeout_s=60):  # the previous process of this camera on this node is still going
            raise RuntimeError(f"camera {camera_id}: spool {self.folder} is held by another process")
        self.engine = make_engine(settings.database_url)
        self.store = DatabaseStore(engine=self.engine, spool=Spool(self.folder), inline=False)
        camera = self._camera(camera_id)
        detector = RemoteDetector(node_detector(self.node_id, settings))
        self.worker = CameraWorker(camera_id, camera.source_url, camera.fps, camera.zones, camera.zone_version,
                                   detector, self.store, settings, _signer(key_pem),
                                   recording_start=camera.recording_start)
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain_loop, name=f"spool-{camera_id}", daemon=True)
        self._drainer.start()
        self.worker.start()
        log.info("camera %s runs on node %s", camera_id, self.node_id[:12])

    def _camera(self, camera_id: str, wait_s: float = 120.0):
        """The camera as the database has it now (a restarted actor takes the zones edited since it was made)."""
        sessions = session_factory(self.engine)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with sessions() as session:
                    wanted, problems, _ = wanted_cameras(session, camera_id)
                break
            except Exception as error:  # noqa: BLE001 - the database may be coming back; Ray restarts us after
                if time.monotonic() >= deadline:
                    raise
                log.warning("camera %s: cannot read its settings yet (%s)", camera_id, str(error).splitlines()[0])
                time.sleep(2.0)
        if camera_id not in wanted:
            raise RuntimeError(f"camera {camera_id} cannot run: {problems.get(camera_id, 'not enabled')}")
        return wanted[camera_id]

    def _drain_loop(self) -> None:
        next_orphans = 0.0
        while not self._stop.wait(DRAIN_EVERY_S):
            try:
                self.store.flush()
                if time.monotonic() >= next_orphans:
                    next_orphans = time.monotonic() + ORPHANS_EVERY_S
                    drain_orphans(self.spool_root, self.engine, held=self.folder)
            except Exception:  # noqa: BLE001 - retried next round; the entries stay on disk
                log.exception("camera %s: spool drain failed", self.camera_id)

    def status(self) -> dict[str, Any]:
        status = self.worker.status
        return {"node_id": self.node_id, "source_url": self.worker.source_url, "fps": self.worker.fps,
                "recording_start": self.worker.recording_start,
                "state": status.state, "frames": status.frames, "last_frame_at": status.last_frame_at,
                "error": status.error, "zone_version": status.zone_version, "objects": status.objects,
                "zones": status.zones, "waiting_in_spool": self.store.pending}

    def update_zones(self, zones, version: int) -> None:
        self.worker.update_zones(zones, version)

    def stop(self, end_open: bool, drain_s: float = 20.0) -> int:
        """Stop the camera (checkpointed, or its open violations ended) and hand its saves to the database;
        returns how many still wait in the node's spool (the database did not answer within ``drain_s``)."""
        self.worker.stop(end_open=end_open)
        self.worker.join(timeout=30)
        self._stop.set()
        self._drainer.join(timeout=10)
        deadline = time.monotonic() + drain_s
        while True:
            self.store.flush(force=True)
            if not self.store.pending or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        waiting = self.store.pending
        self._lock.release()  # what still waits is drained by the next camera actor of this node
        return waiting


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=8)
class ClusterSupervisor:
    """The one reconciler of the cluster (a named, detached actor on the head node; see ``ensure_supervisor``)."""

    def __init__(self, settings: Settings, key_pem: bytes):
        _log_to_stderr()
        check_cluster_settings(settings)
        self.settings = settings
        self.key_pem = key_pem
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.cameras: dict[str, Any] = {}  # camera id → its actor handle
        self.statuses: dict[str, dict[str, Any]] = {}
        self.problems: dict[str, str] = {}
        self.site_codes: dict[str, str] = {}
        self._heard: dict[str, tuple[float, str]] = {}  # camera id → when its actor last answered, from where
        self._mutex = threading.Lock()  # one reconciliation (or move) at a time
        for name in ray.util.list_named_actors():  # a restarted supervisor adopts the cameras already running
            if name.startswith(CAMERA_PREFIX):
                self.cameras[name.removeprefix(CAMERA_PREFIX)] = ray.get_actor(name, namespace=NAMESPACE)
        threading.Thread(target=self._run, name="cluster-supervisor", daemon=True).start()

    def _run(self) -> None:
        outage = OutageLog(log, "cluster supervisor (cameras keep running)")
        while True:
            try:
                self.sync()
            except Exception as error:  # noqa: BLE001 - keep supervising whatever one round hit
                outage.failed(error)
            else:
                outage.ok()
            time.sleep(SYNC_EVERY_S)

    def snapshot(self) -> dict[str, Any]:
        """What the API processes show: each camera's status (with its node), and why others do not run."""
        return {"statuses": dict(self.statuses), "problems": dict(self.problems), "site_codes": dict(self.site_codes)}

    def sync(self) -> None:
        with self._mutex:
            with self.sessions() as session:
                wanted, self.problems, self.site_codes = wanted_cameras(session)
            nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
            for node_id in nodes:  # every node's model loaded before a camera needs it (a failover is quick)
                node_detector(node_id, self.settings)
            self._poll_statuses(nodes)
            for camera_id in list(self.cameras):
                camera, status = wanted.get(camera_id), self.statuses.get(camera_id)
                if camera is None:
                    self._stop_camera(camera_id, end_open=True)
                elif status and (status["source_url"], status["fps"], status["recording_start"]) != (
                        camera.source_url, camera.fps, camera.recording_start):
                    self._stop_camera(camera_id, end_open=False)  # a new source resumes at once
                elif status and status["zone_version"] != camera.zone_version:
                    self.cameras[camera_id].update_zones.remote(camera.zones, camera.zone_version)
            for camera_id in wanted:
                if camera_id not in self.cameras:
                    self._start_camera(camera_id)
            self._rebalance(nodes)

    def _poll_statuses(self, nodes: list[str]) -> None:
        calls = {camera_id: actor.status.remote() for camera_id, actor in self.cameras.items()}
        for camera_id, call in calls.items():
            try:
                self.statuses[camera_id] = ray.get(call, timeout=10)
                self._heard[camera_id] = (time.monotonic(), self.statuses[camera_id]["node_id"])
            except ray.exceptions.GetTimeoutError:  # starting (loading its model) or restarting: asked again later
                self.statuses.pop(camera_id, None)
                heard_at, node_id = self._heard.get(camera_id, (time.monotonic(), None))
                if node_id is not None and node_id not in nodes and time.monotonic() - heard_at > STRANDED_S:
                    self._forget(camera_id, "its node is gone and Ray has not restarted it")
            except ray.exceptions.ActorUnavailableError:  # restarting
                self.statuses.pop(camera_id, None)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnschedulableError) as error:
                self._forget(camera_id, str(error).splitlines()[0][:200])

    def _forget(self, camera_id: str, why: str) -> None:
        """An actor that will not come back (pinned to a node that died, or its start failed): started anew."""
        log.warning("camera %s: its actor is lost (%s); starting it again", camera_id, why)
        actor = self.cameras.pop(camera_id)
        self.statuses.pop(camera_id, None)
        self._heard.pop(camera_id, None)
        ray.kill(actor, no_restart=True)
        self._wait_name_free(camera_id)

    def _wait_name_free(self, camera_id: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # its name is free once Ray has buried it
            try:
                ray.get_actor(camera_actor_name(camera_id), namespace=NAMESPACE)
            except ValueError:
                return
            time.sleep(0.2)

    def _start_camera(self, camera_id: str, node_id: str | None = None) -> None:
        """Anywhere (spread over the nodes, restarted by Ray wherever there is room), or on ``node_id`` (a move;
        Ray's soft affinity does not hold to the node asked for, so it is pinned: if that node dies the actor is
        lost and ``_poll_statuses`` starts it again, spread)."""
        strategy = NodeAffinitySchedulingStrategy(node_id, soft=False) if node_id else "SPREAD"
        self.cameras[camera_id] = CameraActor.options(
            name=camera_actor_name(camera_id), namespace=NAMESPACE, lifetime="detached",
            scheduling_strategy=strategy).remote(camera_id, self.settings, self.key_pem)
        log.info("camera %s started%s", camera_id, f" on node {node_id[:12]}" if node_id else "")

    def _stop_camera(self, camera_id: str, end_open: bool) -> None:
        actor = self.cameras.pop(camera_id)
        self.statuses.pop(camera_id, None)
        self._heard.pop(camera_id, None)
        try:
            waiting = ray.get(actor.stop.remote(end_open), timeout=CALL_TIMEOUT_S)
            if waiting:
                log.warning("camera %s stopped with %d save(s) still in its node's spool", camera_id, waiting)
        except Exception as error:  # noqa: BLE001 - its checkpoint in the database stands
            log.warning("camera %s did not stop cleanly (%s)", camera_id, str(error).splitlines()[0][:200])
        ray.kill(actor, no_restart=True)
        self._wait_name_free(camera_id)

    def move(self, camera_id: str, node_id: str) -> None:
        """Move a running camera to ``node_id``: it checkpoints there, and goes on from the checkpoint here."""
        with self._mutex:
            if camera_id not in self.cameras:
                raise KeyError(f"camera {camera_id} is not running")
            self._stop_camera(camera_id, end_open=False)
            self._start_camera(camera_id, node_id)

    def _rebalance(self, nodes: list[str]) -> None:
        """One camera per round from the busiest node to the idlest, while they differ by two or more (a node
        that joined takes its share; nodes that came back after a failover too)."""
        if len(nodes) < 2 or len(self.statuses) < len(self.cameras):
            return
        load: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for camera_id, status in self.statuses.items():
            if status.get("node_id") in load:
                load[status["node_id"]].append(camera_id)
        busiest = max(load, key=lambda n: len(load[n]))
        idlest = min(load, key=lambda n: len(load[n]))
        if len(load[busiest]) - len(load[idlest]) >= 2:
            camera_id = sorted(load[busiest])[0]
            log.info("moving camera %s from node %s to node %s", camera_id, busiest[:12], idlest[:12])
            self._stop_camera(camera_id, end_open=False)
            self._start_camera(camera_id, idlest)


def connect(address: str) -> None:
    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)


def ensure_supervisor(settings: Settings, key_pem: bytes):
    """The cluster's supervisor: started by the first API process that asks, found by every other one."""
    return ClusterSupervisor.options(name=SUPERVISOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                                     resources={"node:__internal_head__": 0.001}).remote(settings, key_pem)
