"""Alert delivery against real servers: a local signed-webhook receiver, the local Mosquitto, SQLite and
PostgreSQL. Time is an injected clock: back-off is advanced, never slept through."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.alerts import (
    MqttPublisher,
    OutboxDispatcher,
    WebhookSender,
    ZoneStatePublisher,
    dead_letters,
    dispatchers_from_settings,
    verify_signature,
)
from service.alerts.webhook import sign
from service.db.alerts import enqueue_violation_alert
from service.db.models import Camera, OutboxMessage, Site
from service.db.session import session_factory
from service.db.violations import upsert_violation
from service.settings import Settings

BROKER = (os.environ.get("FIRELANE_TEST_MQTT_HOST", "127.0.0.1"), int(os.environ.get("FIRELANE_TEST_MQTT_PORT", "1883")))
SECRET = "webhook-test-secret"
CST = timezone(timedelta(hours=8))


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# --- databases ---


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


class Clock:
    """Injected time: starts just after the real now (enqueue stamps rows with the real now)."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def seed(sessions: sessionmaker[Session], count: int, site_code: str = "site-a", camera_id: str = "cam-a") -> list[str]:
    """A site, a camera and ``count`` violations with their alerts; returns the idempotency keys."""
    start = datetime(2026, 11, 2, 9, 0, tzinfo=CST)
    with sessions.begin() as session:
        site = Site(code=site_code, name="阳光小区")
        session.add(site)
        session.flush()
        session.add(Camera(id=camera_id, site_id=site.id, name="东门", source_url="rtsp://cam/stream"))
        session.flush()
        for n in range(count):
            violation = upsert_violation(session, {
                "id": f"{camera_id}-v{n}", "camera_id": camera_id, "camera_name": "东门", "zone_id": "lane-a",
                "zone_name": "北侧消防车通道", "zone_kind": "fire_lane", "object_class": "car", "category": "vehicle",
                "started_at": start + timedelta(minutes=n), "violation_at": start + timedelta(minutes=n, seconds=180),
                "ended_at": None, "duration_s": 180.0, "box": [1, 2, 3, 4], "tracker_ids": [n],
                "evidence_dir": f"{camera_id}/{n}", "manifest_sha256": None, "source": "rtsp://cam/stream",
            })
            assert enqueue_violation_alert(session, violation) is not None
    return [f"violation-started:{camera_id}-v{n}" for n in range(count)]


def rows(sessions: sessionmaker[Session], channel: str) -> list[OutboxMessage]:
    with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == channel).order_by(OutboxMessage.id)
        return list(session.scalars(query))


# --- a real webhook receiver ---


@dataclass
class Receiver:
    """A local HTTP receiver that verifies signatures like a real one; switchable to 503 ("down")."""

    down: bool = False
    delay_s: float = 0.0
    status_for_key: dict[str, int] = field(default_factory=dict)
    accepted: list[tuple[str, bytes]] = field(default_factory=list)  # (idempotency key, body), 2xx only
    requests: list[str] = field(default_factory=list)  # every idempotency key received
    bad_signatures: int = 0
    hold_key: str | None = None  # a request with this key waits for ``release``
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, request: BaseHTTPRequestHandler) -> int:
        body = request.rfile.read(int(request.headers["Content-Length"]))
        key = request.headers["Idempotency-Key"]
        with self.lock:
            self.requests.append(key)
        if key == self.hold_key:
            self.holding.set()
            self.release.wait(10)
        time.sleep(self.delay_s)
        if self.down:
            return 503
        signed = verify_signature(SECRET, request.headers["X-Firelane-Timestamp"], body,
                                  request.headers["X-Firelane-Signature"])
        if not signed or request.headers["X-Firelane-Event"] != "violation.started":
            with self.lock:
                self.bad_signatures += 1
            return 401
        if key in self.status_for_key:
            return self.status_for_key[key]
        with self.lock:
            self.accepted.append((key, body))
        return 204


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(state.handle(self))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/firelane"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sender(receiver: Receiver) -> Iterator[WebhookSender]:
    sender = WebhookSender(receiver.url, SECRET)
    yield sender
    sender.close()


# --- webhook signing ---


def test_verify_signature_accepts_only_the_exact_signed_request() -> None:
    body = '{"id":"v1","zone":"北侧消防车通道"}'.encode()
    now = 1_800_000_000
    header = sign(SECRET, now, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, str(now), body, header, now=now + 10)
    assert not verify_signature(SECRET, now, body + b" ", header, now=now)  # body tampered
    assert not verify_signature("other", now, body, header, now=now)  # wrong secret
    assert not verify_signature(SECRET, now + 1, body, header, now=now)  # timestamp is signed too
    assert not verify_signature(SECRET, now, body, header, now=now + 301)  # replayed too late
    assert verify_signature(SECRET, now, body, header, tolerance_s=None, now=now + 10**6)
    for broken in (None, "", header[7:], "sha1=" + header[7:], "sha256=zz", header.upper()):
        assert not verify_signature(SECRET, now, body, broken, now=now)
    assert not verify_signature(SECRET, "yesterday", body, header, now=now)


def test_sender_classifies_responses(receiver: Receiver, sender: WebhookSender) -> None:
    payload = {"event": "violation.started", "id": "v1"}
    assert sender.send(payload, "k-ok").ok
    for status, permanent in [(400, True), (401, True), (404, True), (410, True), (408, False), (429, False),
                              (500, False), (503, False)]:
        receiver.status_for_key[f"k-{status}"] = status
        result = sender.send(payload, f"k-{status}")
        assert (result.ok, result.permanent) == (False, permanent), status
        assert f"HTTP {status}" in (result.error or "")
    [(key, body)] = receiver.accepted
    assert key == "k-ok" and json.loads(body) == payload
    assert receiver.bad_signatures == 0


def test_sender_retries_refused_connections_and_timeouts(receiver: Receiver) -> None:
    refused = WebhookSender(f"http://127.0.0.1:{free_port()}/", SECRET, timeout=httpx.Timeout(2))
    result = refused.send({"id": "v1"}, "k1")
    assert (result.ok, result.permanent) == (False, False) and "ConnectError" in (result.error or "")
    refused.close()

    receiver.delay_s = 1.0
    slow = WebhookSender(receiver.url, SECRET, timeout=httpx.Timeout(0.2))
    started = time.monotonic()
    result = slow.send({"id": "v1"}, "k2")
    assert time.monotonic() - started < 0.9
    assert (result.ok, result.permanent) == (False, False) and "Timeout" in (result.error or "")
    slow.close()


# --- the outbox ---


def test_outbox_survives_a_receiver_outage_and_delivers_each_alert_once(
    sessions: sessionmaker[Session], receiver: Receiver, sender: WebhookSender
) -> None:
    keys = seed(sessions, 5)
    clock = Clock()
    dispatcher = OutboxDispatcher(sessions, sender, clock=clock)  # MQTT not configured

    receiver.down = True
    delays = []
    for attempt in range(1, 4):
        now = clock()
        stats = dispatcher.run_once()
        assert (stats.delivered, stats.retried, stats.dead_lettered) == (0, 5, 0)
        webhook_rows = rows(sessions, "webhook")
        assert [r.attempts for r in webhook_rows] == [attempt] * 5
        assert all(r.delivered_at is None and "HTTP 503" in (r.last_error or "") for r in webhook_rows)
        row_delays = [(r.next_attempt_at - now).total_seconds() for r in webhook_rows]
        expected = 2.0 * 2 ** (attempt - 1)  # 2, 4, 8 s
        assert all(expected <= d <= expected * 1.1 + 1e-3 for d in row_delays), row_delays
        delays.append(min(row_delays))
        assert dispatcher.run_once().attempted == 0  # nothing is due before the back-off ends
        clock.advance(expected * 1.1 + 0.01)
    assert delays == sorted(delays) and delays[-1] > delays[0]
    assert receiver.accepted == [] and len(receiver.requests) == 15

    # Back up: two dispatchers at once (a slow receiver makes them overlap), then both again, later.
    receiver.down, receiver.delay_s = False, 0.05
    other = OutboxDispatcher(sessions, WebhookSender(receiver.url, SECRET), clock=clock)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda d=d: results.append(d.run_once())) for d in (dispatcher, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(s.delivered for s in results) == 5 and sum(s.retried + s.dead_lettered for s in results) == 0
    for _ in range(3):
        clock.advance(3600)
        assert dispatcher.run_once().attempted == 0 and other.run_once().attempted == 0

    counts = Counter(key for key, _ in receiver.accepted)
    assert counts == Counter({key: 1 for key in keys})  # every alert exactly once per idempotency key
    assert receiver.bad_signatures == 0
    webhook_rows = rows(sessions, "webhook")
    by_key = {r.idempotency_key: r for r in webhook_rows}
    for key, body in receiver.accepted:
        assert json.loads(body) == by_key[key].payload
        assert json.loads(body)["event"] == "violation.started"
    assert all(r.delivered_at is not None and r.attempts == 4 and r.last_error is None for r in webhook_rows)
    # The unconfigured channel's messages are left pending, untouched.
    assert all(r.delivered_at is None and r.attempts == 0 and r.last_error is None for r in rows(sessions, "mqtt"))
    other.sender.close()


def test_message_being_sent_is_not_sent_again_by_another_dispatcher(
    sessions: sessionmaker[Session], receiver: Receiver, sender: WebhookSender
) -> None:
    [key] = seed(sessions, 1)
    clock = Clock()
    first = OutboxDispatcher(sessions, sender, clock=clock)
    second = OutboxDispatcher(sessions, sender, clock=clock)
    receiver.hold_key = key
    thread = threading.Thread(target=first.run_once)
    thread.start()
    assert receiver.holding.wait(10)  # the first dispatcher is mid-request
    assert second.run_once().attempted == 0  # row locked (PostgreSQL) or leased (SQLite)
    receiver.release.set()
    thread.join(10)
    clock.advance(3600)
    assert second.run_once().attempted == 0
    assert receiver.requests == [key] and [k for k, _ in receiver.accepted] == [key]


def test_permanent_rejections_and_exhausted_retries_are_dead_lettered(
    sessions: sessionmaker[Session], receiver: Receiver, sender: WebhookSender
) -> None:
    gone, throttled, flaky = seed(sessions, 3)
    receiver.status_for_key = {gone: 410, throttled: 429, flaky: 500}
    clock = Clock()
    dispatcher = OutboxDispatcher(sessions, sender, clock=clock, max_attempts=3)

    stats = dispatcher.run_once()
    assert (stats.delivered, stats.retried, stats.dead_lettered) == (0, 2, 1)
    by_key = {r.idempotency_key: r for r in rows(sessions, "webhook")}
    assert (by_key[gone].attempts, by_key[gone].delivered_at) == (3, None)  # dead: attempts set to the max
    assert (by_key[gone].last_error or "").startswith("permanent: HTTP 410")
    assert by_key[throttled].attempts == 1 and "HTTP 429" in (by_key[throttled].last_error or "")

    del receiver.status_for_key[throttled]  # the throttle lifts; the 500 persists
    for _ in range(4):
        clock.advance(3600)
        dispatcher.run_once()
    by_key = {r.idempotency_key: r for r in rows(sessions, "webhook")}
    assert by_key[throttled].delivered_at is not None
    assert (by_key[flaky].attempts, by_key[flaky].delivered_at) == (3, None)
    assert Counter(receiver.requests) == Counter({gone: 1, throttled: 2, flaky: 3})  # never past max_attempts
    with sessions() as session:
        assert [m.idempotency_key for m in dead_letters(session, 3)] == [gone, flaky]


def test_run_forever_survives_errors(
    sessions: sessionmaker[Session], receiver: Receiver, sender: WebhookSender
) -> None:
    seed(sessions, 2)
    calls: list[int] = []

    class Broken(OutboxDispatcher):
        def run_once(self, stop_event: threading.Event | None = None) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("SELECT", {}, Exception("database is down"))
            return super().run_once(stop_event)

    stop = threading.Event()
    worker = threading.Thread(target=Broken(sessions, sender).run_forever, args=(stop, 0.01))
    worker.start()
    deadline = time.monotonic() + 10
    while len(receiver.accepted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    worker.join(5)
    assert not worker.is_alive() and len(receiver.accepted) == 2 and len(calls) >= 2


def test_dispatchers_from_settings(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    assert dispatchers_from_settings(Settings(_env_file=None, out_dir=tmp_path), sessions) == []
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        dispatchers_from_settings(Settings(_env_file=None, webhook_url="http://127.0.0.1:9/"), sessions)
    settings = Settings(_env_file=None, webhook_url="http://127.0.0.1:9/", webhook_secret="s",
                        mqtt_host="127.0.0.1", mqtt_port=free_port(), outbox_max_attempts=5,
                        webhook_connect_timeout_s=1, webhook_read_timeout_s=2, webhook_write_timeout_s=3,
                        webhook_pool_timeout_s=4, webhook_deadline_s=6, mqtt_connect_timeout_s=0.5,
                        mqtt_ack_timeout_s=0.7)
    webhook, mqtt_channel = dispatchers_from_settings(settings, sessions)
    try:
        assert (webhook.channel, mqtt_channel.channel) == ("webhook", "mqtt")
        assert webhook.max_attempts == mqtt_channel.max_attempts == 5
        assert isinstance(webhook.sender, WebhookSender) and isinstance(mqtt_channel.sender, MqttPublisher)
        assert webhook.sender.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
        assert webhook.sender.deadline_s == 6
        assert (mqtt_channel.sender.connect_timeout_s, mqtt_channel.sender.publish_timeout_s) == (0.5, 0.7)
    finally:
        webhook.sender.close()
        mqtt_channel.sender.close()


# --- MQTT against a real broker ---


@pytest.fixture(scope="session")
def broker() -> tuple[str, int]:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as error:
        skip_or_fail(f"no MQTT broker at {BROKER[0]}:{BROKER[1]} ({error}); "
                     "start one with: mosquitto -d -c /etc/mosquitto/mosquitto.conf")
    return BROKER


class Subscriber:
    """A plain paho client recording what arrives, for asserting on what the broker really delivers."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "no SUBACK from the broker"

    def next(self, timeout: float = 5) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: tuple[str, int]) -> Iterator[MqttPublisher]:
    publisher = MqttPublisher(*broker, client_id=f"firelane-test-{uuid.uuid4().hex[:8]}")
    yield publisher
    publisher.close()


def test_mqtt_violation_and_retained_zone_state(
    sessions: sessionmaker[Session], broker: tuple[str, int], publisher: MqttPublisher
) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"  # unique: the broker is shared with other runs
    [key] = seed(sessions, 1, site_code=site, camera_id="cam-a")
    watcher = Subscriber(*broker, "firelane/#")
    try:
        stats = OutboxDispatcher(sessions, publisher, clock=Clock()).run_once()
        assert (stats.delivered, stats.attempted) == (1, 1)
        while (message := watcher.next()).topic != f"firelane/{site}/cam-a/violations":
            pass
        [row] = rows(sessions, "mqtt")
        assert json.loads(message.payload) == row.payload and row.payload["id"] == "cam-a-v0"
        assert (message.qos, message.retain) == (1, False)
        assert row.delivered_at is not None and row.idempotency_key == key
        assert rows(sessions, "webhook")[0].delivered_at is None  # webhook not configured: still pending
    finally:
        watcher.close()

    since = datetime(2026, 11, 2, 9, 3, tzinfo=CST)
    zone_states = ZoneStatePublisher(publisher, clock=lambda: since)
    topic = f"firelane/{site}/cam-a/lane-a/state"
    try:
        zone_states.update(site, "cam-a", "lane-a", occupied=True, violations=1)
        assert wait_until(lambda: zone_states.pending == 0, 5)
        late = Subscriber(*broker, f"firelane/{site}/#")  # subscribes after the publish
        try:
            message = late.next()
            assert (message.topic, message.retain) == (topic, True)
            assert json.loads(message.payload) == {"occupied": True, "violations": 1, "since": since.isoformat(),
                                                  "stale": False}
        finally:
            late.close()
        with pytest.raises(ValueError, match="topic level"):
            zone_states.update(site, "cam/a", "lane-a", occupied=True, violations=1)
    finally:
        zone_states.close()
        assert publisher.clear_zone_state(site, "cam-a", "lane-a")
    after = Subscriber(*broker, f"firelane/{site}/#")
    try:  # nothing retained is left: the first message is the marker published after SUBACK
        assert publisher.publish(f"firelane/{site}/marker", {"marker": True})
        assert after.next().topic == f"firelane/{site}/marker"
    finally:
        after.close()


def test_mqtt_broker_down_is_retried_within_bounded_time(sessions: sessionmaker[Session]) -> None:
    seed(sessions, 1)
    publisher = MqttPublisher("127.0.0.1", free_port(), client_id="firelane-test-down", connect_timeout_s=0.3,
                              publish_timeout_s=0.3)
    try:
        clock = Clock()
        started = time.monotonic()
        stats = OutboxDispatcher(sessions, publisher, clock=clock).run_once()
        assert time.monotonic() - started < 2
        assert (stats.delivered, stats.retried) == (0, 1)
        [row] = rows(sessions, "mqtt")
        assert row.attempts == 1 and row.delivered_at is None and row.last_error
        assert 2.0 <= (row.next_attempt_at - clock()).total_seconds() <= 2.2
    finally:
        publisher.close()


def test_mqtt_publisher_reconnects_after_broker_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        skip_or_fail("mosquitto binary not installed: cannot start a private broker to restart")
    port = free_port()
    (tmp_path / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([binary, "-c", str(tmp_path / "m.conf")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process
            except OSError:
                time.sleep(0.05)
        process.kill()
        pytest.fail("private mosquitto did not start")

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        process.wait(5)

    caplog.set_level(logging.WARNING, logger="service.alerts.mqtt")
    publisher = MqttPublisher("127.0.0.1", port, client_id="firelane-test-reconnect", connect_timeout_s=0.3,
                              publish_timeout_s=2, reconnect_delay_s=(0.1, 0.5))
    broker = None
    try:
        assert not publisher.publish("firelane/t/c/violations", {"n": 0})  # broker not started yet
        broker = start()
        assert publisher.wait_connected(15) and publisher.publish("firelane/t/c/violations", {"n": 1})
        stop(broker)
        deadline = time.monotonic() + 5
        while publisher.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not publisher.publish("firelane/t/c/violations", {"n": 2})
        time.sleep(0.7)  # several failed reconnects (0.1, 0.2, 0.4 s apart)
        broker = start()
        assert publisher.wait_connected(15) and publisher.publish("firelane/t/c/violations", {"n": 3})
        # Each outage is logged when it starts and when it ends, not at every failed reconnect.
        logged = [r.getMessage() for r in caplog.records if r.name == "service.alerts.mqtt"]
        assert [("retrying" in m, "reachable again" in m) for m in logged] == [(True, False), (False, True)] * 2
    finally:
        publisher.close()
        if broker is not None and broker.poll() is None:
            stop(broker)
