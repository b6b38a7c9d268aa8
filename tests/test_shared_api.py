"""Several `firelane serve` processes on one PostgreSQL, as behind a load balancer: the cluster's jobs run in one of
them (the advisory-lock leader) and move to another when it is killed, alerts are delivered once across that; an
API process that runs no camera shows a camera's status from the shared state and serves its evidence from
object storage.

Real processes, PostgreSQL, SeaweedFS and webhook receiver; slow: marked ``faults`` (CI runs them).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from faultkit import FaultKit, ServerProcess, empty_scene_frame, parked_scene_frames, register_camera, wait_until
from service.alerts import MqttPublisher
from service.camera.store import DatabaseStore
from service.db.alerts import enqueue_violation_alert
from service.db.models import OutboxMessage, Violation
from service.db.session import make_engine, session_factory
from test_faults import SECRET

pytest_plugins = ["faultkit", "s3kit"]
pytestmark = [pytest.mark.faults, pytest.mark.postgres]
LEADING = "leader: this process runs the cluster's jobs"


def raise_violation(db_url: str, camera_id: str) -> str:
    """A violation of a registered camera as a camera process saves it: row, alert and outbox messages at once."""
    now = datetime.now(timezone.utc)
    violation = Violation(id=uuid.uuid4().hex, camera_id=camera_id, zone_id="lane-1", zone_name="lane",
                          zone_kind="fire_lane", object_class="bus", category="vehicle",
                          started_at=now - timedelta(seconds=70), violation_at=now, duration_s=70.0,
                          box=[1, 2, 3, 4], tracker_ids=[1], evidence_dir=f"{camera_id}/x", source="test")
    engine = make_engine(db_url)
    try:
        with session_factory(engine).begin() as session:
            session.add(violation)
            session.flush()
            enqueue_violation_alert(session, violation)
    finally:
        engine.dispose()
    return violation.id


def webhook_rows(db_url: str) -> list[OutboxMessage]:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "webhook")))
    finally:
        engine.dispose()


def leaders(*servers: ServerProcess) -> list[ServerProcess]:
    return [s for s in servers if s.alive and LEADING in s.log_text()]


def two_api_processes(fault_kit: FaultKit, env: dict[str, str]) -> tuple[ServerProcess, ServerProcess]:
    """Two `serve --no-cameras` on one database, ready, as (leader, follower)."""
    first = fault_kit.server(env, args=("serve", "--no-cameras"))
    first.wait_ready(90)
    second = fault_kit.server(env, args=("serve", "--no-cameras"))
    second.wait_ready(90)
    [leader] = wait_until(lambda: leaders(first, second), 30, 0.5, "a leader")
    return leader, (second if leader is first else first)


class RemoteCamera:
    """A camera run elsewhere (a Ray camera actor) as the database sees it: its status with one zone's occupancy,
    reported every 2 s (a real one: on each change and at least every 10 s) until ``stop``."""

    def __init__(self, db_url: str, camera_id: str, zone_id: str) -> None:
        self.store = DatabaseStore(db_url)
        self.camera_id, self.zone_id = camera_id, zone_id
        self.occupancy = (False, 0)
        self._lock = threading.Lock()  # a heartbeat never writes an occupancy older than the one just reported
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)

    def report(self, occupied: bool, violations: int) -> None:
        with self._lock:
            self.occupancy = (occupied, violations)
            self._write()
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def _write(self) -> None:
        occupied, violations = self.occupancy
        zone = {"id": self.zone_id, "name": "lane", "occupied": occupied, "violations": violations,
                "longest_dwell_s": 0.0}
        self.store.set_status(self.camera_id, "running", None, last_frame_at=datetime.now(timezone.utc),
                              zones=[zone])

    def _heartbeat(self) -> None:
        while not self._stop.wait(2.0):
            with self._lock:
                self._write()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.store.close()


def test_one_process_runs_the_jobs_and_another_takes_over_after_kill_9_delivering_each_alert_once(
        fault_kit: FaultKit, fresh_pg_url: str):
    receiver = fault_kit.webhook(SECRET)
    env = {"FIRELANE_DATABASE_URL": fresh_pg_url, "FIRELANE_WEBHOOK_URL": receiver.url,
           "FIRELANE_WEBHOOK_SECRET": SECRET, "FIRELANE_WEBHOOK_DEADLINE_S": "60",
           "FIRELANE_WEBHOOK_READ_TIMEOUT_S": "60"}
    leader, follower = two_api_processes(fault_kit, env)
    time.sleep(5)  # the follower had every chance to run the jobs too
    assert leaders(leader, follower) == [leader], "exactly one process runs the jobs"
    camera_id = register_camera(leader, "http://127.0.0.1:9/unused.mjpg").camera_id  # (no process runs cameras)

    def answered(violation_id: str) -> list:
        return [r for r in receiver.requests
                if r.header("Idempotency-Key") == f"violation-started:{violation_id}" and r.status == 200]

    before = raise_violation(fresh_pg_url, camera_id)
    wait_until(lambda: answered(before), 30, 0.5, "the alert raised before the failover")

    receiver.set_mode("hang")  # the leader is killed in the middle of delivering this one
    in_flight = raise_violation(fresh_pg_url, camera_id)
    wait_until(lambda: any(r.header("Idempotency-Key") == f"violation-started:{in_flight}"
                           for r in receiver.requests), 30, 0.2, "the delivery in flight")
    leader.kill9()
    killed_at = time.monotonic()
    receiver.set_mode("ok")
    across = raise_violation(fresh_pg_url, camera_id)  # raised while nobody leads

    wait_until(lambda: leaders(follower), 30, 0.5, "the follower to take over")
    takeover_s = time.monotonic() - killed_at
    wait_until(lambda: answered(in_flight) and answered(across), 60, 0.5, "every alert delivered")
    time.sleep(3)  # a duplicate would have come by now
    assert len(answered(before)) == len(answered(in_flight)) == len(answered(across)) == 1, "answered once each"
    sent = [r.header("Idempotency-Key") for r in receiver.requests]
    assert sent.count(f"violation-started:{before}") == sent.count(f"violation-started:{across}") == 1
    # at least once: the one the dead leader never got an answer for is sent once more, with the same key
    assert sent.count(f"violation-started:{in_flight}") == 2
    assert all(r.verified for r in receiver.requests)
    rows = webhook_rows(fresh_pg_url)
    assert len(rows) == 3 and all(r.delivered_at is not None and r.attempts == 1 for r in rows)
    print(f"takeover after kill -9: {takeover_s:.1f} s")


def test_an_api_process_with_no_camera_shows_its_status_and_serves_its_evidence(
        fault_kit: FaultKit, fresh_pg_url: str, s3_server, shared_data):
    model = shared_data.parent / "models" / "yolov8n_int8.onnx"
    bucket = s3_server.new_bucket()
    env = {"FIRELANE_DATABASE_URL": fresh_pg_url, "FIRELANE_EVIDENCE_URL": f"s3://{bucket}/evidence",
           "FIRELANE_SIGNING_KEY_FILE": str(fault_kit.tmp_path / "signing_key.pem"),  # one key per installation
           "FIRELANE_MODEL": str(model), "FIRELANE_IMGSZ": "640", **s3_server.env()}
    cameras = fault_kit.server(env)
    cameras.wait_ready(90)
    api = fault_kit.server(env, args=("serve", "--no-cameras"))
    api.wait_ready(90)
    camera = fault_kit.mjpeg(parked_scene_frames(), fps=5, noise=2)
    registration = register_camera(cameras, camera.url, grace_s=6, leave_s=10)
    registration.base_url = api.url  # ask the API process, which runs no camera
    live = registration.wait_live(lambda s: s.get("running") and any(z["occupied"] for z in s.get("zones", [])),
                                  90, "the camera's status through the API process")
    assert live["here"] is False and live["state"] == "running" and live["last_frame_at"]
    with api.client() as client:  # the zone editor's picture, shared through object storage
        snapshot = wait_until(lambda: (r := client.get(f"/api/cameras/{registration.camera_id}/snapshot"))
                              .status_code == 200 and r, 30, 1.0, "the snapshot")
        assert snapshot.headers["content-type"] == "image/jpeg" and snapshot.content[:2] == b"\xff\xd8"

    with api.client() as client:
        violation = wait_until(lambda: client.get("/api/violations", params={"camera": registration.camera_id})
                               .json(), 90, 1.0, "the violation")[0]
        camera.set_frames([empty_scene_frame()])
        wait_until(lambda: client.get(f"/api/violations/{violation['id']}").json()["ended_at"], 90, 1.0,
                   "the violation to end")
        detail = client.get(f"/api/violations/{violation['id']}").json()
        assert detail["integrity"] == []
        for file in detail["evidence"]:
            content = client.get(f"/api/violations/{violation['id']}/evidence/{file['name']}").content
            assert hashlib.sha256(content).hexdigest() == file["sha256"], file["name"]
        assert client.get(f"/api/violations/{violation['id']}/export").status_code == 200
    assert not (api.out_dir / "evidence").exists() and not (cameras.out_dir / "evidence").exists()

    cameras.kill9()  # nobody runs the camera now: the API process says so once its reports stop
    stale = registration.wait_live(lambda s: s.get("state") == "stale", 60, "the status to go stale")
    assert stale["running"] is False and stale["zones"] == []


def test_the_leader_relays_the_zone_states_of_a_camera_run_elsewhere_once_across_kill_9(
        fault_kit: FaultKit, fresh_pg_url: str):
    """Two API processes, no camera in either (the camera's status is written as a Ray actor writes it): the
    leader publishes each change once, the next leader refreshes once after ``kill -9``, and a camera that stops
    reporting is published as stale."""
    env = {"FIRELANE_DATABASE_URL": fresh_pg_url, "FIRELANE_MQTT_HOST": "127.0.0.1", "FIRELANE_MQTT_PORT": "1883"}
    leader, follower = two_api_processes(fault_kit, env)
    registration = register_camera(leader, "http://127.0.0.1:9/unused.mjpg")  # (no process runs cameras)
    site, camera_id = registration.site_code, registration.camera_id
    topic = f"firelane/{site}/{camera_id}/lane-1/state"
    mqtt = fault_kit.mqtt(f"firelane/{site}/#")
    camera = RemoteCamera(fresh_pg_url, camera_id, "lane-1")

    def states() -> list[tuple[bool, int, bool]]:
        return [(m.json()["occupied"], m.json()["violations"], m.json()["stale"]) for m in mqtt.messages
                if m.topic == topic]

    try:
        camera.report(True, 0)
        wait_until(states, 30, 0.2, "the relayed zone state")
        time.sleep(5)  # heartbeats and several relay reads: a repeat would have come by now
        assert states() == [(True, 0, False)]
        assert all(m.qos == 1 for m in mqtt.messages)

        leader.kill9()
        wait_until(lambda: leaders(follower), 30, 0.5, "the follower to take over")
        wait_until(lambda: len(states()) == 2, 30, 0.2, "the new leader's refresh")
        camera.report(True, 1)  # the parked car overstays
        wait_until(lambda: len(states()) == 3, 30, 0.2, "the change")
        time.sleep(5)
        assert states() == [(True, 0, False), (True, 0, False), (True, 1, False)]  # one refresh, then the change

        camera.stop()  # no report any more: stale after 30 s
        wait_until(lambda: len(states()) == 4, 60, 0.5, "the stale state")
        time.sleep(5)
        assert states()[3:] == [(True, 1, True)]
        assert [m.topic for m in mqtt.messages] == [topic] * 4  # nothing on any other topic
    finally:
        camera.stop()
        publisher = MqttPublisher("127.0.0.1", 1883, client_id=f"test-clear-{uuid.uuid4().hex[:8]}")
        try:
            assert publisher.clear_zone_state(site, camera_id, "lane-1")
        finally:
            publisher.close()
