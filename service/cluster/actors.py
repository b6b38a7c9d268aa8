"""The Ray actors of cluster mode: one per small group of cameras, one detector per node, one supervisor for the
whole cluster.

- ``CameraGroupActor`` runs up to ``FIRELANE_RAY_CAMERAS_PER_ACTOR`` cameras, each the same ``CameraWorker`` thread
  as `firelane serve` runs in one process, with its spool on the node's own disk (drained by the actor itself, see
  ``service.cluster.spools``) and its detector the node's. Which cameras share an actor: ``service.cluster.groups``.
  Ray restarts it (``max_restarts=-1``) when it or its node dies, on another node if need be; each of its cameras
  then resumes from its checkpoint in PostgreSQL: an open violation goes on under its id, timers count from capture
  times.
- ``NodeDetector``: the model, loaded once per node, serving that node's cameras in dynamic batches.
- ``ClusterSupervisor`` (named, detached, on the head node) reconciles the camera table with the group actors
  every few seconds: starts and stops cameras in their groups, moves groups and hands edited zones to a running
  camera without a restart.

None of them runs the alert dispatchers, the escalation clock or the reports, nor publishes MQTT zone states: those
belong to the API processes (``service.background``; the zone states are relayed from the shared camera status).
"""

from __future__ import annotations

import logging
import os
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
from service.cluster.groups import group_for_new_camera, group_to_move
from service.cluster.spools import SpoolLock, drain_orphans, node_spool_root
from service.db.errors import OutageLog
from service.db.session import make_engine, session_factory
from service.settings import Settings
from service.signing import ManifestSigner

log = logging.getLogger(__name__)
NAMESPACE = "firelane"
SUPERVISOR = "firelane-supervisor"
GROUP_PREFIX = "firelane-cameras-"
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


def group_actor_name(group: str) -> str:
    return f"{GROUP_PREFIX}{group}"


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


class _GroupCamera:
    """One camera of a group actor: its worker thread, its node-local spool and the lock that makes it its own."""

    def __init__(self, lock: SpoolLock, store: DatabaseStore, worker: CameraWorker):
        self.lock, self.store, self.worker = lock, store, worker

    def status(self) -> dict[str, Any]:
        status = self.worker.status
        return {"source_url": self.worker.source_url, "fps": self.worker.fps,
                "recording_start": self.worker.recording_start,
                "state": status.state, "frames": status.frames, "last_frame_at": status.last_frame_at,
                "error": status.error, "zone_version": status.zone_version, "objects": status.objects,
                "zones": status.zones, "waiting_in_spool": self.store.pending}

    def drain(self, drain_s: float) -> int:
        """Hand the stopped camera's saves to the database; how many still wait in the node's spool after
        ``drain_s`` (the next camera actor of this node drains them)."""
        self.worker.join(timeout=30)
        deadline = time.monotonic() + drain_s
        while True:
            self.store.flush(force=True)
            if not self.store.pending or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        waiting = self.store.pending
        self.lock.release()
        return waiting


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=16)  # adds wait for each other
class CameraGroupActor:
    """A small group of cameras on whichever node Ray placed it (``service.cluster.groups`` says which share an
    actor): each camera a ``CameraWorker`` thread with its own node-local spool, all of them the node's detector."""

    def __init__(self, group: str, camera_ids: list[str], settings: Settings, key_pem: bytes):
        _log_to_stderr()
        self.group = group
        self.settings = settings
        self.signer = _signer(key_pem)
        self.node_id = ray.get_runtime_context().get_node_id()
        self.spool_root = node_spool_root()
        self.engine = make_engine(settings.database_url)
        self.detector = RemoteDetector(node_detector(self.node_id, settings))
        self.cameras: dict[str, _GroupCamera] = {}
        self._changing = threading.Lock()  # one camera added or removed at a time
        self._stop = threading.Event()
        for camera_id in self._members(camera_ids):
            try:
                self.add(camera_id)
            except Exception as error:  # noqa: BLE001 - the others run; the supervisor adds it again
                log.warning("group %s: camera %s did not start: %s", group, camera_id, error)
        self._drainer = threading.Thread(target=self._drain_loop, name=f"spools-{group}", daemon=True)
        self._drainer.start()
        log.info("camera group %s runs on node %s: %s", group, self.node_id[:12], ", ".join(self.cameras) or "-")

    def _members(self, given: list[str]) -> list[str]:
        """The cameras the group has now: a restarted actor asks the supervisor, as cameras may have joined or
        left since Ray made it with ``given``."""
        try:
            supervisor = ray.get_actor(SUPERVISOR, namespace=NAMESPACE)
            found = ray.get(supervisor.members.remote(self.group), timeout=10)
        except Exception as error:  # noqa: BLE001 - no supervisor (yet): the supervisor adds the rest later
            log.warning("group %s: supervisor not asked for its cameras (%s)", self.group, str(error)[:200])
            return given
        return given if found is None else found

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

    def add(self, camera_id: str) -> None:
        """Start a camera in this group, resuming from its checkpoint (one already running: nothing to do)."""
        with self._changing:
            if camera_id in self.cameras:
                return
            camera = self._camera(camera_id)
            folder = self.spool_root / camera_id
            lock = SpoolLock(folder)
            if not lock.acquire(timeout_s=60):  # the camera's previous process on this node is still going
                raise RuntimeError(f"camera {camera_id}: spool {folder} is held by another process")
            store = DatabaseStore(engine=self.engine, spool=Spool(folder), inline=False)
            worker = CameraWorker(camera_id, camera.source_url, camera.fps, camera.zones, camera.zone_version,
                                  self.detector, store, self.settings, self.signer,
                                  recording_start=camera.recording_start)
            self.cameras[camera_id] = _GroupCamera(lock, store, worker)
            worker.start()
        log.info("camera %s runs in group %s on node %s", camera_id, self.group, self.node_id[:12])

    def remove(self, camera_id: str, end_open: bool, drain_s: float = 20.0) -> int:
        """Stop one camera (checkpointed, or its open violations ended); the others go on. Returns how many of its
        saves still wait in the node's spool."""
        with self._changing:
            member = self.cameras.pop(camera_id, None)
        if member is None:
            return 0
        member.worker.stop(end_open=end_open)
        return member.drain(drain_s)

    def _drain_loop(self) -> None:
        next_orphans = 0.0
        while not self._stop.wait(DRAIN_EVERY_S):
            members = list(self.cameras.items())
            for camera_id, member in members:
                try:
                    member.store.flush()
                except Exception:  # noqa: BLE001 - retried next round; the entries stay on disk
                    log.exception("camera %s: spool drain failed", camera_id)
            if time.monotonic() >= next_orphans:
                next_orphans = time.monotonic() + ORPHANS_EVERY_S
                try:
                    drain_orphans(self.spool_root, self.engine, held={self.spool_root / c for c, _ in members})
                except Exception:  # noqa: BLE001 - retried next round
                    log.exception("group %s: draining the spools left on this node failed", self.group)

    def status(self) -> dict[str, Any]:
        return {"group": self.group, "node_id": self.node_id, "pid": os.getpid(),
                "cameras": {camera_id: member.status() for camera_id, member in list(self.cameras.items())}}

    def update_zones(self, camera_id: str, zones, version: int) -> None:
        if camera_id in self.cameras:
            self.cameras[camera_id].worker.update_zones(zones, version)

    def stop(self, end_open: bool, drain_s: float = 20.0) -> int:
        """Stop every camera of the group at once (see ``remove``); returns how many saves still wait."""
        with self._changing:
            members = list(self.cameras.values())
            self.cameras.clear()
        for member in members:
            member.worker.stop(end_open=end_open)
        self._stop.set()
        self._drainer.join(timeout=10)
        return sum(member.drain(drain_s) for member in members)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=8)
class ClusterSupervisor:
    """The one reconciler of the cluster (a named, detached actor on the head node; see ``ensure_supervisor``).

    It holds which cameras each group actor runs (``service.cluster.groups``): those are the groups a restarted
    group actor asks it for, and a restarted supervisor learns them back from the group actors' statuses.
    """

    def __init__(self, settings: Settings, key_pem: bytes):
        _log_to_stderr()
        check_cluster_settings(settings)
        self.settings = settings
        self.key_pem = key_pem
        self.engine = make_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.groups: dict[str, Any] = {}  # group → its actor handle
        self.groups_members: dict[str, list[str]] = {}  # group → its cameras
        self.statuses: dict[str, dict[str, Any]] = {}  # camera id → its status, with its group and node
        self.problems: dict[str, str] = {}
        self.site_codes: dict[str, str] = {}
        self._heard: dict[str, tuple[float, str | None]] = {}  # group → when its actor last answered, from where
        self._answered: set[str] = set()  # the groups that answered this round
        self._adding: dict[str, Any] = {}  # camera id → its group's `add` call, until it returns
        self._adopted: set[str] = set()  # groups found running whose cameras are not known yet
        self._mutex = threading.Lock()  # one reconciliation (or move) at a time
        for name in ray.util.list_named_actors():  # a restarted supervisor adopts the groups already running
            if name.startswith(GROUP_PREFIX):
                group = name.removeprefix(GROUP_PREFIX)
                self.groups[group] = ray.get_actor(name, namespace=NAMESPACE)
                self.groups_members[group] = []
                self._adopted.add(group)
                self._heard[group] = (time.monotonic(), None)
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

    def members(self, group: str) -> list[str] | None:
        """The cameras of ``group`` (None: a group this supervisor does not know yet); no lock, so a group actor
        starting while a reconciliation waits on it gets its answer."""
        if group in self._adopted or group not in self.groups_members:
            return None
        return list(self.groups_members[group])

    def sync(self) -> None:
        with self._mutex:
            with self.sessions() as session:
                wanted, self.problems, self.site_codes = wanted_cameras(session)
            nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
            for node_id in nodes:  # every node's model loaded before a camera needs it (a failover is quick)
                node_detector(node_id, self.settings)
            self._poll_statuses(nodes)
            self._settle_adds()
            for group, cameras in list(self.groups_members.items()):
                for camera_id in list(cameras):
                    camera, status = wanted.get(camera_id), self.statuses.get(camera_id)
                    if camera is None:
                        self._remove_camera(camera_id, group, end_open=True)
                    elif status and (status["source_url"], status["fps"], status["recording_start"]) != (
                            camera.source_url, camera.fps, camera.recording_start):
                        self._remove_camera(camera_id, group, end_open=False)  # a new source resumes at once
                    elif status and status["zone_version"] != camera.zone_version:
                        self.groups[group].update_zones.remote(camera_id, camera.zones, camera.zone_version)
                    elif not status and group in self._answered and camera_id not in self._adding:
                        self._add_to(group, camera_id)  # its start failed, or a restarted actor missed it
            if self._adopted:  # a camera of a group not heard from yet must not start a second time
                return
            running = {camera_id for cameras in self.groups_members.values() for camera_id in cameras}
            for camera_id in wanted:
                if camera_id not in running:
                    self._add_camera(camera_id, nodes)
            self._rebalance(nodes)

    def _poll_statuses(self, nodes: list[str]) -> None:
        calls = {group: actor.status.remote() for group, actor in self.groups.items()}
        self._answered = set()
        statuses: dict[str, dict[str, Any]] = {}
        for group, call in calls.items():
            try:
                answer = ray.get(call, timeout=10)
            except ray.exceptions.GetTimeoutError:  # starting (loading its model) or restarting: asked again later
                heard_at, node_id = self._heard.get(group, (time.monotonic(), None))
                lost = node_id not in nodes if node_id else group in self._adopted
                if lost and time.monotonic() - heard_at > STRANDED_S:
                    self._forget(group, "its node is gone and Ray has not restarted it")
                continue
            except ray.exceptions.ActorUnavailableError:  # restarting
                continue
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnschedulableError) as error:
                self._forget(group, str(error).splitlines()[0][:200])
                continue
            self._answered.add(group)
            self._heard[group] = (time.monotonic(), answer["node_id"])
            if group in self._adopted:
                self.groups_members[group] = list(answer["cameras"])
                self._adopted.discard(group)
            for camera_id, status in answer["cameras"].items():
                if camera_id in self.groups_members[group]:
                    statuses[camera_id] = {**status, "node_id": answer["node_id"], "group": group}
                else:  # removed while the actor restarted: the call that removed it went to the old process
                    self.groups[group].remove.remote(camera_id, False)
        self.statuses = statuses

    def _settle_adds(self) -> None:
        for camera_id, call in list(self._adding.items()):
            if ray.wait([call], timeout=0)[0]:
                del self._adding[camera_id]
                try:
                    ray.get(call)
                except Exception as error:  # noqa: BLE001 - its group tries again next round
                    log.warning("camera %s did not start (%s)", camera_id, str(error).splitlines()[0][:200])

    def _add_camera(self, camera_id: str, nodes: list[str]) -> None:
        nodes_of = {group: node_id for group, (_, node_id) in self._heard.items() if node_id}
        group = group_for_new_camera(self.groups_members, nodes_of, nodes, self.settings.ray_cameras_per_actor)
        log.info("camera %s joins group %s", camera_id, group)
        if group in self.groups:
            self.groups_members[group].append(camera_id)
            self._add_to(group, camera_id)
        else:
            self.groups_members[group] = [camera_id]
            self._start_group(group)

    def _add_to(self, group: str, camera_id: str) -> None:
        self._adding[camera_id] = self.groups[group].add.remote(camera_id)

    def _remove_camera(self, camera_id: str, group: str, end_open: bool) -> None:
        """Stop one camera; the others of its group go on (the last one stops the group's actor)."""
        self.groups_members[group].remove(camera_id)
        self.statuses.pop(camera_id, None)
        self._adding.pop(camera_id, None)
        if not self.groups_members[group]:
            del self.groups_members[group]
            self._stop_group(group, end_open)
            return
        try:
            waiting = ray.get(self.groups[group].remove.remote(camera_id, end_open), timeout=CALL_TIMEOUT_S)
            if waiting:
                log.warning("camera %s stopped with %d save(s) still in its node's spool", camera_id, waiting)
        except Exception as error:  # noqa: BLE001 - its checkpoint in the database stands
            log.warning("camera %s did not stop cleanly (%s)", camera_id, str(error).splitlines()[0][:200])

    def _forget(self, group: str, why: str) -> None:
        """A group actor that will not come back (pinned to a node that died, or its start failed): its cameras
        join groups anew (fill-first)."""
        cameras = self.groups_members.pop(group, [])
        log.warning("group %s: its actor is lost (%s); its cameras start again: %s", group, why, ", ".join(cameras))
        actor = self.groups.pop(group)
        self._heard.pop(group, None)
        self._adopted.discard(group)
        for camera_id in cameras:
            self.statuses.pop(camera_id, None)
            self._adding.pop(camera_id, None)
        ray.kill(actor, no_restart=True)
        self._wait_name_free(group)

    def _wait_name_free(self, group: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # its name is free once Ray has buried it
            try:
                ray.get_actor(group_actor_name(group), namespace=NAMESPACE)
            except ValueError:
                return
            time.sleep(0.2)

    def _start_group(self, group: str, node_id: str | None = None) -> None:
        """Anywhere (spread over the nodes, restarted by Ray wherever there is room), or on ``node_id`` (a move;
        Ray's soft affinity does not hold to the node asked for, so it is pinned: if that node dies the actor is
        lost and ``_poll_statuses`` starts its cameras again, spread)."""
        strategy = NodeAffinitySchedulingStrategy(node_id, soft=False) if node_id else "SPREAD"
        cameras = list(self.groups_members[group])
        self.groups[group] = CameraGroupActor.options(
            name=group_actor_name(group), namespace=NAMESPACE, lifetime="detached",
            scheduling_strategy=strategy).remote(group, cameras, self.settings, self.key_pem)
        self._heard[group] = (time.monotonic(), node_id)
        log.info("group %s started%s: %s", group, f" on node {node_id[:12]}" if node_id else "", ", ".join(cameras))

    def _stop_group(self, group: str, end_open: bool) -> None:
        actor = self.groups.pop(group)
        self._heard.pop(group, None)
        self.statuses = {c: status for c, status in self.statuses.items() if status["group"] != group}
        try:
            waiting = ray.get(actor.stop.remote(end_open), timeout=CALL_TIMEOUT_S)
            if waiting:
                log.warning("group %s stopped with %d save(s) still in its node's spools", group, waiting)
        except Exception as error:  # noqa: BLE001 - its cameras' checkpoints in the database stand
            log.warning("group %s did not stop cleanly (%s)", group, str(error).splitlines()[0][:200])
        ray.kill(actor, no_restart=True)
        self._wait_name_free(group)

    def move(self, group: str, node_id: str) -> None:
        """Move a running group to ``node_id``: its cameras checkpoint there, and go on from the checkpoints here."""
        with self._mutex:
            if group not in self.groups or group in self._adopted:
                raise KeyError(f"group {group} is not running")
            self._stop_group(group, end_open=False)
            self._start_group(group, node_id)

    def _rebalance(self, nodes: list[str]) -> None:
        """One group per round from the busiest node to the idlest, when that narrows the gap (a node that joined
        takes its share; nodes that came back after a failover too)."""
        if self._answered != set(self.groups) or self._adding:
            return
        nodes_of = {group: self._heard[group][1] for group in self.groups}
        found = group_to_move(self.groups_members, nodes_of, nodes)
        if found:
            group, idlest = found
            log.info("moving group %s (%d cameras) from node %s to node %s", group,
                     len(self.groups_members[group]), str(nodes_of[group])[:12], idlest[:12])
            self._stop_group(group, end_open=False)
            self._start_group(group, idlest)


def connect(address: str) -> None:
    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)


def ensure_supervisor(settings: Settings, key_pem: bytes):
    """The cluster's supervisor: started by the first API process that asks, found by every other one."""
    return ClusterSupervisor.options(name=SUPERVISOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                                     resources={"node:__internal_head__": 0.001}).remote(settings, key_pem)
