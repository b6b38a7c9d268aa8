"""Cluster mode against a real local Ray cluster (a head and two more nodes, separate `ray start` processes), real
PostgreSQL, a local MJPEG camera and a local webhook receiver. Slow (a few minutes): marked ``cluster``; CI runs it.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from conftest import SHARED, _require
from faultkit import WebhookReceiver, empty_scene_frame, parked_scene_frames, register_camera, wait_until
from service.db.models import Alert, CameraState, Violation
from service.db.session import make_engine, session_factory
from service.evidence import verify_manifest

pytest_plugins = ["faultkit", "raycluster"]
pytestmark = [pytest.mark.cluster, pytest.mark.postgres]
SECRET = "cluster-suite-webhook-secret"
LEAVE_S = 45
RESUMED = "resumed from its checkpoint: 1 open violation(s) go on"


def rows(db_url: str, model, camera_id: str) -> list:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(model).where(model.camera_id == camera_id)))
    finally:
        engine.dispose()


def deliveries(receiver: WebhookReceiver, violation_id: str) -> list:
    key = f"violation-started:{violation_id}"
    return [r for r in receiver.requests if r.header("Idempotency-Key") == key and r.status == 200]


def test_a_group_whose_node_dies_mid_violation_goes_on_elsewhere_with_the_same_violation(
        ray_cluster, fault_kit, fresh_pg_url):
    model = _require(SHARED / "models" / "yolov8n_int8.onnx")  # loads in seconds on every node
    ray = ray_cluster.connect()
    camera = fault_kit.mjpeg(parked_scene_frames(), fps=5, noise=2)
    quiet = fault_kit.mjpeg([empty_scene_frame()], fps=5, noise=2)  # the other camera of the group: nothing parks
    receiver = fault_kit.webhook(SECRET)
    server = fault_kit.server({"FIRELANE_DATABASE_URL": fresh_pg_url, "FIRELANE_WEBHOOK_URL": receiver.url,
                               "FIRELANE_WEBHOOK_SECRET": SECRET, "FIRELANE_MODEL": str(model),
                               "FIRELANE_IMGSZ": "640", "FIRELANE_RAY_CAMERAS_PER_ACTOR": "4"},
                              args=("serve", "--ray", ray_cluster.address))
    server.wait_ready(120)
    # leave_s longer than a failover here (the node's death noticed, a new worker process, the stream reopened)
    registration = register_camera(server, camera.url, grace_s=6, leave_s=LEAVE_S)
    quiet_id = register_camera(server, quiet.url, grace_s=6, leave_s=LEAVE_S, fps=1.0).camera_id
    camera_id = registration.camera_id
    supervisor = wait_until(lambda: _supervisor(ray), 120, interval=1.0, what="the cluster's supervisor actor")

    def running(which: str = camera_id, exclude: str | None = None):
        status = ray.get(supervisor.snapshot.remote(), timeout=60)["statuses"].get(which, {})
        ok = status.get("state") == "running" and status.get("frames", 0) > 0 and status.get("node_id") != exclude
        return status if ok else None

    def both_running(exclude: str | None = None):
        found = running(camera_id, exclude), running(quiet_id, exclude)
        return found if all(found) else None

    status, other = wait_until(both_running, 240, interval=1.0, what="both cameras to run")
    assert status["group"] == other["group"] and status["node_id"] == other["node_id"], "one actor runs both"
    if status["node_id"] == ray_cluster.head.node_id:  # the head holds the cluster's state: kill a worker node
        ray.get(supervisor.move.remote(status["group"], ray_cluster.workers["node_b"].node_id), timeout=120)
        status, other = wait_until(both_running, 120, interval=1.0, what="the group to run on node_b after its move")
    doomed = ray_cluster.node_by_id(status["node_id"])
    assert doomed is not ray_cluster.head
    for camera_state in (rows(fresh_pg_url, CameraState, c)[0] for c in (camera_id, quiet_id)):
        assert camera_state.status == "running", "each camera of the group reports its own state"

    [first] = wait_until(lambda: rows(fresh_pg_url, Violation, camera_id), 90, interval=0.5, what="a violation")
    assert first.ended_at is None
    time.sleep(3)  # a checkpoint or two after the start
    resumed_before = ray_cluster.firelane_log().count(RESUMED)
    doomed.kill()  # raylet, its workers, the group actor and the node's detector: a power cut

    moved, moved_other = wait_until(lambda: both_running(exclude=doomed.node_id), 150, interval=1.0,
                                    what="both cameras to run again on another node")
    assert moved["node_id"] != doomed.node_id
    assert moved["group"] == moved_other["group"] and moved["node_id"] == moved_other["node_id"], "still one actor"
    wait_until(lambda: ray_cluster.firelane_log().count(RESUMED) > resumed_before, 30, interval=1.0,
               what="the camera to say it resumed the open violation")
    assert [v.id for v in rows(fresh_pg_url, Violation, camera_id)] == [first.id], "went on, not started anew"
    assert rows(fresh_pg_url, Violation, quiet_id) == []

    camera.set_frames([empty_scene_frame()])
    wait_until(lambda: all(v.ended_at for v in rows(fresh_pg_url, Violation, camera_id)), LEAVE_S + 60, interval=1.0,
               what="the violation to end")
    [violation] = rows(fresh_pg_url, Violation, camera_id)
    assert violation.id == first.id and violation.started_at == first.started_at
    assert violation.ended_at > violation.violation_at
    assert verify_manifest(server.out_dir / "evidence" / violation.evidence_dir) == []
    [alert] = rows(fresh_pg_url, Alert, camera_id)
    assert alert.violation_id == violation.id
    wait_until(lambda: deliveries(receiver, violation.id), 60, interval=0.5, what="the webhook delivery")
    time.sleep(2.0)  # a duplicate would have come by now
    [delivery] = deliveries(receiver, violation.id)
    assert delivery.verified

    # zones edited by an operator reach the running camera, whose actor goes on without a restart
    before = running()
    zone = {**registration.zones["zones"][0], "name": "南侧消防车通道"}
    with server.client() as client:
        response = client.put(f"/api/cameras/{camera_id}/zones", json={**registration.zones, "zones": [zone]})
    assert response.status_code == 200, response.text
    version = response.json()["version"]
    edited = wait_until(lambda: (s := running()) and s["zone_version"] == version and s, 60, interval=1.0,
                        what="the running camera to take the edited zones")
    assert edited["node_id"] == before["node_id"] and edited["frames"] > before["frames"], "the same actor went on"
    assert [z["name"] for z in edited["zones"]] == ["南侧消防车通道"]

    # one camera of the group disabled: it stops cleanly, the other goes on in the same actor
    with server.client() as client:
        response = client.patch(f"/api/cameras/{quiet_id}", json={"enabled": False})
    assert response.status_code == 200, response.text
    wait_until(lambda: rows(fresh_pg_url, CameraState, quiet_id)[0].status == "stopped", 60, interval=1.0,
               what="the disabled camera to report it stopped")
    assert quiet_id not in ray.get(supervisor.snapshot.remote(), timeout=60)["statuses"]
    going_on = wait_until(lambda: (s := running()) and s["frames"] > edited["frames"] and s, 60, interval=1.0,
                          what="the other camera of the group to go on")
    assert (going_on["group"], going_on["node_id"]) == (edited["group"], edited["node_id"])

    # the supervisor restarted by Ray learns the group back from its actor and leaves the camera running
    started = f"camera {camera_id} runs in group"
    starts_before = ray_cluster.firelane_log().count(started)
    ray.kill(supervisor, no_restart=False)

    def running_after_restart():
        try:
            return running()
        except ray.exceptions.RayError:  # the supervisor is restarting
            return None

    adopted = wait_until(lambda: (s := running_after_restart()) and s["frames"] > going_on["frames"] and s, 120,
                         interval=1.0, what="the restarted supervisor to report the camera again")
    assert (adopted["group"], adopted["node_id"]) == (going_on["group"], going_on["node_id"]), "not started anew"
    time.sleep(2 * 3.0)  # two reconciliations: a second copy of the camera would be started by now
    assert ray_cluster.firelane_log().count(started) == starts_before, "no second copy of the camera started"


def _supervisor(ray):
    try:
        return ray.get_actor("firelane-supervisor", namespace="firelane")
    except ValueError:
        return None
