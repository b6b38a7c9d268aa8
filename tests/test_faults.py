"""Everyday faults against the real server: `firelane serve` in a subprocess, real PostgreSQL, the local Mosquitto,
a local MJPEG camera, a local webhook receiver. Each fault ends the same way: exactly one violation for the parked
bus, ended once, its evidence verified, its alert delivered once per channel.

Slow (a minute or two each): marked ``faults``; CI runs them (see .ci/run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from faultkit import (
    FaultKit,
    MjpegServer,
    MqttCollector,
    Registration,
    ServerProcess,
    WebhookReceiver,
    empty_scene_frame,
    fill,
    parked_scene_frames,
    pg_url_via,
    register_camera,
    wait_until,
)
from service.db.models import Alert, Violation
from service.db.session import make_engine, session_factory
from service.evidence import verify_manifest

pytest_plugins = ["faultkit"]
pytestmark = [pytest.mark.faults, pytest.mark.postgres]
SECRET = "fault-suite-webhook-secret"
GRACE_S = 6


@dataclass
class Scene:
    camera: MjpegServer
    receiver: WebhookReceiver
    mqtt: MqttCollector
    server: ServerProcess
    registration: Registration
    db_url: str

    def violations(self) -> list[Violation]:
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                query = select(Violation).where(Violation.camera_id == self.registration.camera_id)
                return list(session.scalars(query.order_by(Violation.started_at)))
        finally:
            engine.dispose()

    def alerts(self) -> list[Alert]:
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                return list(session.scalars(select(Alert).where(Alert.camera_id == self.registration.camera_id)))
        finally:
            engine.dispose()

    def wait_violation(self, timeout: float = 90.0) -> Violation:
        rows = wait_until(self.violations, timeout, interval=0.5, what="a violation in the database")
        return rows[0]


def start_scene(kit: FaultKit, db_url: str, *, leave_s: float = 20, server_db_url: str | None = None,
                env: dict[str, str] | None = None, out_dir: Path | None = None) -> Scene:
    camera = kit.mjpeg(parked_scene_frames(), fps=5, noise=2)
    receiver = kit.webhook(SECRET)
    mqtt = kit.mqtt("firelane/#")
    server_env = {"FIRELANE_DATABASE_URL": server_db_url or db_url, "FIRELANE_WEBHOOK_URL": receiver.url,
                  "FIRELANE_WEBHOOK_SECRET": SECRET, "FIRELANE_MQTT_HOST": "127.0.0.1", "FIRELANE_MQTT_PORT": "1883",
                  **(env or {})}
    if out_dir is not None:
        server_env["FIRELANE_OUT_DIR"] = str(out_dir)
    server = kit.server(server_env)
    server.wait_ready(90)
    registration = register_camera(server, camera.url, grace_s=GRACE_S, leave_s=leave_s)
    return Scene(camera, receiver, mqtt, server, registration, db_url)


def clear_lane_and_check(scene: Scene, *, evidence_complete: bool = True, timeout: float = 150.0) -> Violation:
    """The bus leaves; then: one violation, ended once, evidence as expected, alert once per channel."""
    scene.camera.set_frames([empty_scene_frame()])
    wait_until(lambda: all(v.ended_at for v in scene.violations()), timeout, interval=1.0,
               what="the violation to end")
    [violation] = scene.violations()
    folder = scene.server.out_dir / "evidence" / violation.evidence_dir
    assert verify_manifest(folder) == [], "evidence files match their manifest"
    assert violation.evidence_complete is evidence_complete, violation.evidence_problem
    assert not list(folder.parent.rglob("*.partial*")), "nothing half-written left behind"
    [alert] = scene.alerts()
    assert alert.escalated_at is None
    key = f"violation-started:{violation.id}"
    answered = wait_until(lambda: [r for r in scene.receiver.requests
                                   if r.header("Idempotency-Key") == key and r.status == 200], 60, interval=0.5,
                          what="the webhook delivery")
    assert len(answered) == 1 and answered[0].verified, "delivered once, signed"
    def published():
        return [m for m in scene.mqtt.messages if m.topic.endswith("/violations") and m.json().get("id") == violation.id]

    wait_until(published, 60, interval=0.5, what="the MQTT message")
    time.sleep(1.0)  # a duplicate would have come by now
    assert len(published()) == 1
    return violation


def test_kill_9_mid_violation_then_restart_resumes_the_same_violation(fault_kit, fresh_pg_url):
    scene = start_scene(fault_kit, fresh_pg_url)
    first = scene.wait_violation()
    time.sleep(3)  # a checkpoint or two after the start
    scene.server.kill9()
    scene.server.start()
    scene.server.wait_ready(90)
    wait_until(lambda: scene.server.log_text().count("resumed from its checkpoint") >= 1, 90, interval=0.5,
               what="the camera to resume")
    violation = clear_lane_and_check(scene)
    assert violation.id == first.id
    assert violation.started_at == first.started_at


def test_stream_down_20_s_keeps_the_violation(fault_kit, fresh_pg_url):
    scene = start_scene(fault_kit, fresh_pg_url, leave_s=45)
    first = scene.wait_violation()
    scene.camera.stop()
    with scene.server.client() as client:
        status = wait_until(lambda: (s := client.get(f"/api/cameras/{scene.registration.camera_id}/live").json())
                            and s.get("state") == "reconnecting" and s, 15, interval=0.5,
                            what="the camera to say it is reconnecting")
    assert status.get("error"), "the reason is shown"
    time.sleep(20)
    scene.camera.start()
    with scene.server.client() as client:
        wait_until(lambda: client.get(f"/api/cameras/{scene.registration.camera_id}/live").json().get("state")
                   == "running", 45, interval=0.5, what="the camera to run again")
    violation = clear_lane_and_check(scene)
    assert violation.id == first.id


def test_database_unreachable_15_s_loses_nothing(fault_kit, fresh_pg_url):
    proxy = fault_kit.proxy("127.0.0.1", 5432)
    scene = start_scene(fault_kit, fresh_pg_url, server_db_url=pg_url_via(fresh_pg_url, proxy))
    # the camera runs (it has read its empty state) and the bus is within its grace time: then the database goes
    scene.registration.wait_live(lambda live: live.get("state") == "running" and live.get("frames", 0) > 0, 60)
    assert scene.violations() == []
    proxy.cut()
    cut_at = time.time()
    time.sleep(15)
    proxy.restore()
    violation = scene.wait_violation(60)
    # found on time by the camera, not found again from scratch after the outage
    assert (violation.violation_at - violation.started_at) < timedelta(seconds=GRACE_S + 5)
    assert violation.started_at.timestamp() < cut_at + GRACE_S
    clear_lane_and_check(scene)


def test_a_webhook_receiver_that_never_answers_delays_nobody_else(fault_kit, fresh_pg_url):
    scene = start_scene(fault_kit, fresh_pg_url)
    scene.receiver.set_mode("hang")
    violation = scene.wait_violation()
    message = wait_until(lambda: [m for m in scene.mqtt.messages if m.topic.endswith("/violations")], 20,
                         interval=0.2, what="MQTT while the webhook hangs")
    assert message, "MQTT went out while the webhook receiver hung"
    time.sleep(8)
    scene.receiver.set_mode("ok")
    assert clear_lane_and_check(scene).id == violation.id


def test_an_mqtt_broker_that_refuses_does_not_slow_the_cameras(fault_kit, fresh_pg_url):
    broker = fault_kit.proxy("127.0.0.1", 1883)
    broker.cut()
    scene = start_scene(fault_kit, fresh_pg_url, env={"FIRELANE_MQTT_PORT": str(broker.address[1])})
    violation = scene.wait_violation(60)
    assert (violation.violation_at - violation.started_at) < timedelta(seconds=GRACE_S + 5), "found on time"
    broker.restore()
    clear_lane_and_check(scene)


def test_a_full_disk_keeps_the_violation_and_marks_its_evidence(fault_kit, fresh_pg_url):
    disk = fault_kit.tmpfs("6m")
    scene = start_scene(fault_kit, fresh_pg_url, out_dir=disk)
    first = scene.wait_violation()
    filler = fill(disk, leave_bytes=0)
    time.sleep(12)  # the camera goes on writing checkpoints and stills into a full disk
    filler.unlink()
    violation = clear_lane_and_check(scene, evidence_complete=False)
    assert violation.id == first.id
    assert "No space left" in (violation.evidence_problem or "")
