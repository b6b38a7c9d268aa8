"""The fault-injection kit itself works: camera, proxy, webhook receiver, MQTT collector, tiny disk, server process."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import cv2
import httpx
import numpy as np
import pytest

from detector.sources import StreamSource
from faultkit import (
    DEMO_ZONES,
    FaultKit,
    demo_zone_document,
    empty_scene_frame,
    fill,
    free_bytes,
    free_port,
    parked_scene_frames,
    pg_url_via,
    refusing_port,
    register_camera,
)
from zones.config import load_zones
from zones.geometry import footprint_overlap

pytest_plugins = ["faultkit"]  # fault_kit, fresh_pg_url

TZ = ZoneInfo("Asia/Shanghai")
SECRET = "faultkit-webhook-secret"


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# --- the demo scene ---


def test_demo_frames_show_the_bus_parked_in_the_lane_and_the_lane_empty(ssd) -> None:
    parked, empty = parked_scene_frames(count=3), empty_scene_frame()
    assert len(parked) == 3 and all(f.shape == (540, 960, 3) for f in [*parked, empty])
    lane = next(z for z in load_zones(DEMO_ZONES).zones if z.id == "lane-1")
    for frame in parked:
        found = ssd.detect(frame)
        inside = footprint_overlap(found.xyxy, lane.polygon) >= lane.min_overlap
        assert any(inside & (found.category == "vehicle")), "no vehicle parked in lane-1"
    found = ssd.detect(empty)
    assert not any(footprint_overlap(found.xyxy, lane.polygon) >= lane.min_overlap)
    document = demo_zone_document("cam-x", grace_s=6, leave_s=20)
    assert document["camera_id"] == "cam-x" and [(z["id"], z["grace_s"], z["leave_s"]) for z in document["zones"]] \
        == [("lane-1", 6, 20)]


# --- the camera ---


def test_mjpeg_read_by_opencv_fails_soon_after_stop_and_reads_again_on_the_same_port(fault_kit: FaultKit) -> None:
    camera = fault_kit.mjpeg(parked_scene_frames(count=2), fps=5, noise=3)
    port = camera.port
    assert httpx.get(f"http://127.0.0.1:{port}/nope", timeout=5).status_code == 404
    capture = StreamSource(camera.url, 5, TZ).opener(camera.url)  # the project's own FFmpeg settings
    try:
        images = [capture.read()[1] for _ in range(3)]
        assert all(i is not None and i.shape == (540, 960, 3) for i in images)
        assert not np.array_equal(images[0], images[1])  # per-frame noise
        camera.stop()
        started = time.monotonic()
        for _ in range(200):  # frames already buffered come out first
            ok, _image = capture.read()
            if not ok or time.monotonic() - started > 10:
                break
        assert not ok and time.monotonic() - started < 5
    finally:
        capture.release()
    assert _refused(port)

    camera.start()
    assert camera.port == port
    capture = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000,
                                                           cv2.CAP_PROP_READ_TIMEOUT_MSEC, 1500])
    try:
        assert capture.read()[0]
        camera.freeze()  # connection stays up, no frames: the reader hits its read timeout
        started = time.monotonic()
        for _ in range(50):
            if not capture.read()[0]:
                break
        assert time.monotonic() - started < 8
    finally:
        capture.release()
        camera.unfreeze()


@pytest.mark.faults
def test_stream_source_reconnects_after_the_camera_comes_back(fault_kit: FaultKit) -> None:
    scene = {"parked": parked_scene_frames(count=2)[0], "empty": empty_scene_frame()}
    camera = fault_kit.mjpeg(lambda t: scene["parked"], fps=5)
    source = StreamSource(camera.url, 5, TZ, max_reconnects=10, backoff_s=(0.5, 1.0))
    frames = source.frames()
    try:
        first = [next(frames) for _ in range(3)]
        assert [f.index for f in first] == [0, 1, 2]
        camera.stop()
        scene["parked"] = scene["empty"]  # the lane is cleared while the camera is down
        restart = threading.Timer(2.0, camera.start)
        restart.start()
        started = time.monotonic()
        try:
            after = next(frames)
        finally:
            restart.cancel()
            restart.join(5)
        waited = time.monotonic() - started
    finally:
        frames.close()
    assert 1.5 < waited < 10
    assert np.abs(after.image.astype(int) - scene["empty"].astype(int)).mean() < 8  # the new scene, decoded
    assert len(source.gaps) == 1 and source.gaps[0].ended_at is not None
    assert "stopped delivering" in source.gaps[0].reason


# --- the database link ---


@pytest.mark.postgres
def test_proxy_passes_postgres_cut_refuses_restore_works(fault_kit: FaultKit, fresh_pg_url: str) -> None:
    import psycopg

    from service.db.session import make_engine

    proxy = fault_kit.proxy("127.0.0.1", 5432)
    url = pg_url_via(fresh_pg_url, proxy)
    assert f":{proxy.port}/" in url
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()

    dsn = url + "?connect_timeout=3"
    held = psycopg.connect(dsn)
    assert held.execute("SELECT 1").fetchone() == (1,)
    proxy.cut()
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    held.close()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(dsn)
    assert time.monotonic() - started < 2

    proxy.restore()
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0] in fresh_pg_url

    proxy.stall()  # packets silently dropped: the client waits for its own timeout
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url + "?connect_timeout=2")
    assert 1.5 < time.monotonic() - started < 6
    proxy.unstall()
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


# --- the webhook receiver ---


def _signed_post(url: str, payload: dict, key: str, timeout: float = 5.0, secret: str = SECRET) -> httpx.Response:
    """What firelane's webhook sender sends: the body signed with the timestamp (service.alerts.webhook.sign)."""
    from service.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, encode_body, sign

    body, stamp = encode_body(payload), int(time.time())
    headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(secret, stamp, body),
               TIMESTAMP_HEADER: str(stamp), "Idempotency-Key": key}
    return httpx.post(url, content=body, headers=headers, timeout=timeout)


def test_webhook_receiver_verifies_hangs_fails_refuses(fault_kit: FaultKit) -> None:
    receiver = fault_kit.webhook(SECRET)
    port = receiver.port
    assert _signed_post(receiver.url, {"event": "violation.started", "zone": "北侧消防车通道"}, "key-1").status_code == 200
    (request,) = receiver.wait_for(timeout=2)
    assert request.verified and request.status == 200 and request.method == "POST"
    assert request.header("idempotency-key") == "key-1" and request.json()["zone"] == "北侧消防车通道"
    assert abs(request.received_at - time.time()) < 5

    forged = _signed_post(receiver.url, {"event": "x"}, "key-forged", secret="not-the-secret")
    assert forged.status_code == 401 and receiver.requests[-1].verified is False

    receiver.set_mode("hang")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        _signed_post(receiver.url, {"event": "violation.started"}, "key-2", timeout=1.0)
    assert 0.8 < time.monotonic() - started < 4
    hung = receiver.wait_for(lambda r: r.header("Idempotency-Key") == "key-2", timeout=2)[0]
    assert hung.status is None and hung.mode == "hang" and hung.verified

    receiver.set_mode("error")
    assert _signed_post(receiver.url, {"event": "violation.started"}, "key-3").status_code == 503

    receiver.set_mode("refuse")
    assert _refused(port)
    with pytest.raises(httpx.ConnectError):
        _signed_post(receiver.url, {"event": "violation.started"}, "key-4")

    receiver.set_mode("ok")
    assert receiver.port == port
    assert _signed_post(receiver.url, {"event": "violation.started"}, "key-5").status_code == 200
    assert [r.header("Idempotency-Key") for r in receiver.requests] == ["key-1", "key-forged", "key-2", "key-3", "key-5"]


def test_ports() -> None:
    port = refusing_port()
    assert _refused(port) and _refused(port)
    assert 1024 <= free_port() <= 65535


# --- MQTT ---


def test_mqtt_collector_records_messages_with_arrival_times(fault_kit: FaultKit) -> None:
    import paho.mqtt.client as mqtt

    from faultkit import MQTT_BROKER

    root = f"faultkit-test/{uuid.uuid4().hex[:8]}"
    collector = fault_kit.mqtt(f"{root}/#")
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"faultkit-pub-{uuid.uuid4().hex[:8]}")
    publisher.connect(*MQTT_BROKER)
    publisher.loop_start()
    try:
        sent_at = time.time()
        publisher.publish(f"{root}/a/state", b'{"occupied": true}', qos=1).wait_for_publish(5)
        publisher.publish(f"{root}/b/state", b'{"occupied": false}', qos=1).wait_for_publish(5)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    message = collector.wait_for(lambda m: m.topic.endswith("/b/state"), timeout=5)[0]
    assert message.json() == {"occupied": False} and not message.retain
    assert sent_at - 1 <= message.received_at <= time.time()
    assert [m.topic for m in collector.wait_for(timeout=1, count=2)] == [f"{root}/a/state", f"{root}/b/state"]
    with pytest.raises(AssertionError, match="timed out"):
        collector.wait_for(lambda m: m.topic.endswith("/c/state"), timeout=0.3)


# --- a full disk ---


def test_small_tmpfs_fills_up_and_writes_fail_with_enospc(fault_kit: FaultKit) -> None:
    disk = fault_kit.tmpfs("2m")
    assert 1_900_000 < free_bytes(disk) <= 2 * 1024 * 1024
    filler = fill(disk)
    with pytest.raises(OSError) as raised:
        with open(disk / "evidence.jpg", "wb") as handle:
            handle.write(b"x" * 65536)
            handle.flush()
    assert raised.value.errno == errno.ENOSPC
    filler.unlink()
    (disk / "evidence.jpg").write_bytes(b"x" * 65536)
    fill(disk, leave_bytes=256 * 1024)
    assert abs(free_bytes(disk) - 256 * 1024) <= 8192


# --- the server ---


@pytest.mark.faults
def test_server_process_serves_reads_the_camera_and_dies_on_kill9(fault_kit: FaultKit) -> None:
    camera = fault_kit.mjpeg(parked_scene_frames(count=2), fps=5, noise=2)
    server = fault_kit.server({"FIRELANE_WEBHOOK_URL": None})  # SSD model, SQLite in its out dir
    server.wait_ready(60)
    assert httpx.get(server.url + "/", timeout=5).json()["name"] == "firelane"
    assert server.out_dir == server.workdir and (server.out_dir / "firelane.db").exists()

    # long grace: this test checks the kit's wiring, not the violation path
    camera_reg = register_camera(server, camera.url, grace_s=600, leave_s=20)
    live = camera_reg.wait_live(lambda s: s.get("frames", 0) >= 2 and s.get("objects"), 45, "frames from the camera")
    assert any("lane-1" in o["zones"] for o in live["objects"]), live
    assert camera.connections_accepted >= 1

    pid = server.proc.pid
    assert server.kill9() == -9 and not server.alive
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole group is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", timeout=2)

    server.restart(hard=True, ready_timeout=60)  # the same port, the same database
    with server.client() as client:
        assert [c["id"] for c in client.get("/api/cameras").json()] == [camera_reg.camera_id]
    assert "start #2" in server.log_text()
