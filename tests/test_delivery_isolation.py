"""A slow receiver stalls nobody else: each outbox channel has its own dispatcher thread, every webhook request
has an overall deadline, and zone states leave the camera loop at once, only when they change. Against real
servers on loopback: HTTP receivers that hang or trickle, the local Mosquitto, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import queue
import socket
import statistics
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_alerts import (  # noqa: F401 (broker, receiver and sessions are fixtures)
    SECRET,
    Receiver,
    Subscriber,
    broker,
    free_port,
    receiver,
    rows,
    seed,
    sessions,
    wait_until,
)

from faultkit import FaultKit, WebhookReceiver, WebhookRequest
from service.alerts import MqttPublisher, OutboxDispatcher, WebhookSender, ZoneStatePublisher
from service.background import BackgroundServices
from service.settings import Settings

pytest_plugins = ["faultkit"]


def keys_of(requests: list[WebhookRequest]) -> list[str | None]:
    return [r.header("Idempotency-Key") for r in requests]


def accepted(receiver: WebhookReceiver) -> list[str | None]:
    return keys_of([r for r in receiver.requests if r.status == 200])


def run_in_threads(dispatchers: list[OutboxDispatcher], stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=d.run_forever, args=(stop, 0.05), daemon=True) for d in dispatchers]
    for thread in threads:
        thread.start()
    return threads


def test_hanging_webhook_receiver_does_not_delay_mqtt(
    sessions: sessionmaker[Session], broker: tuple[str, int], fault_kit: FaultKit
) -> None:
    hanging_receiver = fault_kit.webhook(SECRET, mode="hang")  # reads each request, answers none until "ok"
    site = f"site-{uuid.uuid4().hex[:8]}"  # unique: the broker is shared with other runs
    keys = seed(sessions, 4, site_code=site)
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    sender = WebhookSender(hanging_receiver.url, SECRET, timeout=httpx.Timeout(5.0, connect=1.0))
    publisher = MqttPublisher(*broker, client_id=f"firelane-test-{uuid.uuid4().hex[:8]}")
    webhook = OutboxDispatcher(sessions, sender, backoff=(0.2, 1.0))
    mqtt_channel = OutboxDispatcher(sessions, publisher, backoff=(0.2, 1.0))
    stop = threading.Event()
    started, wall_started = time.monotonic(), datetime.now(timezone.utc)
    threads = run_in_threads([webhook, mqtt_channel], stop)
    try:
        arrivals = {}
        while len(arrivals) < len(keys):
            message = watcher.next(timeout=5)
            arrivals[json.loads(message.payload)["id"]] = time.monotonic() - started
        # Every violation reached MQTT while the first webhook request is still unanswered.
        assert max(arrivals.values()) < 3.0, arrivals
        assert keys_of(hanging_receiver.requests) == [keys[0]] and accepted(hanging_receiver) == []
        # Recorded once the PUBACK is in, which may be just after the subscriber got the message.
        assert wait_until(lambda: all(r.delivered_at is not None for r in rows(sessions, "mqtt")), 3)
        mqtt_rows, now = rows(sessions, "mqtt"), datetime.now(timezone.utc)
        assert all(wall_started <= r.delivered_at <= now for r in mqtt_rows)  # type: ignore[operator]
        assert all(r.attempts == 1 for r in mqtt_rows)

        # The hung request times out after 5 s and is scheduled again, not lost.
        first = lambda: rows(sessions, "webhook")[0]  # noqa: E731
        assert wait_until(lambda: first().attempts == 1, 15)
        timed_out_after = time.monotonic() - started
        assert 4.5 <= timed_out_after < 15, timed_out_after
        assert first().delivered_at is None and "ReadTimeout" in (first().last_error or "")

        hanging_receiver.set_mode("ok")  # requests held so far stay unanswered: the sender retries them
        assert wait_until(lambda: all(r.delivered_at is not None for r in rows(sessions, "webhook")), 15)
        assert sorted(accepted(hanging_receiver)) == sorted(keys)  # every alert, once the receiver answers
        assert rows(sessions, "webhook")[0].attempts == 2
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        watcher.close()
        sender.close()
        publisher.close()
    assert not any(thread.is_alive() for thread in threads)


def test_trickling_receiver_is_cut_off_at_the_deadline() -> None:
    """A byte every 0.1 s never trips the 0.5 s read timeout; the 1.5 s deadline ends the request anyway."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(300):  # 30 s at most
                if done.wait(0.1):
                    return
                try:
                    connection.sendall(b"a")
                except OSError:  # the sender gave up and closed the connection
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    sender = WebhookSender(f"http://127.0.0.1:{listener.getsockname()[1]}/", SECRET,
                           timeout=httpx.Timeout(0.5), deadline_s=1.5)
    try:
        started = time.monotonic()
        result = sender.send({"id": "v1"}, "k1")
        elapsed = time.monotonic() - started
    finally:
        done.set()
        sender.close()
        server.join(5)
        listener.close()
    assert 1.4 <= elapsed < 4.5, elapsed
    assert (result.ok, result.permanent) == (False, False) and "DeadlineExceeded" in (result.error or "")


class TickingClock:
    """Injected time that moves one minute on every read, so each stamp shows which read it came from."""

    def __init__(self) -> None:
        self.start = datetime.now(timezone.utc) + timedelta(seconds=1)
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.start + timedelta(minutes=self.reads - 1)


def test_delivered_at_is_read_after_each_send(
    sessions: sessionmaker[Session], receiver: Receiver, tmp_path: Path
) -> None:
    keys = seed(sessions, 3)
    clock = TickingClock()
    sender = WebhookSender(receiver.url, SECRET)
    try:
        assert OutboxDispatcher(sessions, sender, clock=clock).run_once().delivered == 3
        # Reads per message: claim, then after the send; the batch's first read is never reused.
        stamps = [r.delivered_at for r in rows(sessions, "webhook")]
        assert stamps == [clock.start + timedelta(minutes=m) for m in (1, 3, 5)]

        # Real time: a receiver taking 0.2 s per request spaces the stamps by at least that much.
        more = seed(sessions, 3, site_code="site-b", camera_id="cam-b")
        receiver.delay_s = 0.2
        batch_started = datetime.now(timezone.utc)
        assert OutboxDispatcher(sessions, sender).run_once().delivered == 3
        stamps = [r.delivered_at for r in rows(sessions, "webhook") if r.idempotency_key in more]
        gaps = [(b - a).total_seconds() for a, b in zip([batch_started, *stamps], stamps)]  # type: ignore[operator]
        assert all(gap >= 0.19 for gap in gaps), gaps
        assert [k for k, _ in receiver.accepted] == keys + more
    finally:
        sender.close()


# --- zone states ---


def zone(zone_id: str, occupied: bool, violations: int, dwell_s: float) -> dict[str, Any]:
    """A zone summary as the camera worker passes it; ``longest_dwell_s`` grows every frame."""
    return {"id": zone_id, "name": zone_id, "occupied": occupied, "violations": violations,
            "longest_dwell_s": round(dwell_s, 1)}


@pytest.fixture
def services_for(engine: Engine, sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[Any]:
    """Builds the server's background services (not started: the test plays the camera workers)."""
    made: list[BackgroundServices] = []

    def build(mqtt_port: int) -> BackgroundServices:
        settings = Settings(_env_file=None, out_dir=tmp_path, mqtt_host="127.0.0.1", mqtt_port=mqtt_port)
        made.append(BackgroundServices(settings, engine, sessions))
        return made[-1]

    yield build
    for services in made:
        services.stop()


def test_zone_state_callback_never_waits_for_an_unreachable_broker(
    sessions: sessionmaker[Session], services_for: Any
) -> None:
    seed(sessions, 0)
    services = services_for(free_port())  # nothing listens there: every connection is refused
    services.supervisor.sync()  # learns each camera's site (no zones: no worker starts)
    on_zone_state = services.supervisor.on_zone_state  # what each camera worker calls

    def frame(n: int) -> list[dict[str, Any]]:
        occupied = n % 40 >= 20  # a car comes and goes every 20 frames: real changes keep coming
        return [zone("lane-a", occupied, int(n % 40 >= 30), n * 0.5 if occupied else 0.0),
                zone("lane-b", False, 0, 0.0), zone("lane-c", True, 0, n * 0.5)]

    durations = []
    for n in range(1000):
        zones = frame(n)
        started = time.perf_counter()
        on_zone_state("cam-a", zones)
        durations.append(time.perf_counter() - started)
        assert durations[-1] < 0.05, f"frame {n}: the callback took {durations[-1] * 1000:.1f} ms"
    assert statistics.median(durations) < 0.005
    assert services.zone_states.pending == 3  # one waiting state per zone, however many changes

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000, 2000):
            on_zone_state("cam-a", frame(n))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes more after 1000 further calls"


def test_zone_state_queue_is_bounded_and_drops_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    publisher = MqttPublisher("127.0.0.1", free_port(), client_id="firelane-test-refused")
    zone_states = ZoneStatePublisher(publisher, max_pending=50)
    try:
        with caplog.at_level(logging.WARNING, logger="service.alerts.mqtt"):
            for n in range(1000):
                zone_states.update("site-a", "cam-a", f"lane-{n}", occupied=True, violations=0)
        assert zone_states.pending == 50
        dropping = [r for r in caplog.records if "dropping" in r.getMessage()]
        assert len(dropping) == 1  # once per overflow, not once per dropped change
    finally:
        zone_states.close()
        publisher.close()


def test_zone_state_published_once_per_real_change(
    sessions: sessionmaker[Session], broker: tuple[str, int], services_for: Any
) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site)
    services = services_for(broker[1])
    services.supervisor.sync()  # learns each camera's site (no zones: no worker starts)
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    topic = f"firelane/{site}/cam-a/%s/state"
    try:
        # (lane-a occupied, violations) for 60 frames each: free, a car parks, it overstays, it leaves.
        # lane-b stays free throughout. Each change is given time to go out before the next frame, as a
        # camera's frame interval would; the dwell time grows on every one of the 240 frames.
        phases = [(False, 0), (True, 0), (True, 1), (False, 0)]
        for phase, (occupied, violations) in enumerate(phases):
            for frame in range(60):
                dwell = (phase * 60 + frame) * 0.5 if occupied else 0.0
                services.supervisor.on_zone_state("cam-a", [zone("lane-a", occupied, violations, dwell),
                                                            zone("lane-b", False, 0, 0.0)])
            assert wait_until(lambda: services.zone_states.pending == 0, 10)

        received = [watcher.next() for _ in range(5)]
        with pytest.raises(queue.Empty):  # a quiet half second: nothing more comes
            watcher.next(timeout=0.5)
        by_topic: dict[str, list[dict]] = {}
        for message in received:
            by_topic.setdefault(message.topic, []).append(json.loads(message.payload))
        lane_a = by_topic[topic % "lane-a"]
        assert [(s["occupied"], s["violations"]) for s in lane_a] == phases
        assert [(s["occupied"], s["violations"]) for s in by_topic[topic % "lane-b"]] == [(False, 0)]
        assert all(set(s) == {"occupied", "violations", "since", "stale"} and s["stale"] is False for s in lane_a)
        since = [datetime.fromisoformat(s["since"]) for s in lane_a]
        assert since == sorted(since) and len(set(since)) == 4

        late = Subscriber(*broker, f"firelane/{site}/cam-a/lane-a/state")  # retained: the last state at once
        try:
            message = late.next()
            assert message.retain and json.loads(message.payload) == lane_a[-1]
        finally:
            late.close()
    finally:
        watcher.close()
        publisher = services.dispatchers[0].sender
        for zone_id in ("lane-a", "lane-b"):
            assert publisher.clear_zone_state(site, "cam-a", zone_id)


def test_mqtt_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A broker address that accepts TCP and hangs up at once: many reconnects, one warning."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hang_up() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # listener closed: the test is over
                return
            accepted.append(connection)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    with caplog.at_level(logging.WARNING, logger="service.alerts.mqtt"):
        publisher = MqttPublisher("127.0.0.1", listener.getsockname()[1], client_id="firelane-test-hang-up",
                                  reconnect_delay_s=(0.05, 0.1))
        try:
            assert wait_until(lambda: len(accepted) >= 5, 10)
        finally:
            publisher.close()
            listener.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "service.alerts.mqtt"]
    assert len(warnings) == 1 and "retrying in the background" in warnings[0], warnings
