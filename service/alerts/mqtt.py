"""MQTT publishing (QoS 1, waiting for the broker's PUBACK) for violations and retained zone states.

Zone states come from the camera loops, which must never wait on the broker (or, for cameras run on Ray, from the
leader's relay, service.alerts.zone_relay): ``ZoneStatePublisher.update`` only records a state, and its own thread
publishes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)
TOPIC_ROOT = "firelane"


def _segment(value: str, what: str) -> str:
    """A topic level must not be empty or contain ``/``, ``+`` or ``#``: it would publish elsewhere."""
    if not value or any(c in value for c in "/+#\0"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


ZONE_STATES = f"{TOPIC_ROOT}/+/+/+/state"  # every zone state, as a topic filter


def zone_state_topic(site_code: str, camera_id: str, zone_id: str) -> str:
    parts = (_segment(site_code, "site code"), _segment(camera_id, "camera id"), _segment(zone_id, "zone id"))
    return "/".join((TOPIC_ROOT, *parts, "state"))


class MqttPublisher:
    """One broker connection, kept up by paho's network thread (it reconnects on its own).

    ``publish`` never blocks longer than ``connect_timeout_s + publish_timeout_s``; a False return
    means "not confirmed", and the outbox retries, so subscribers may see a message twice (at-least-once).
    An outage is logged once, when it starts, and its end once, however many reconnects it takes.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        client_id: str = "firelane",
        username: str | None = None,
        password: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        publish_timeout_s: float = 5.0,
        keepalive_s: int = 30,
        reconnect_delay_s: tuple[float, float] = (1, 30),
        max_queued_messages: int = 1000,
    ) -> None:
        self.host, self.port = host, port
        self.publish_timeout_s = publish_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.last_error: str | None = None
        self._connected = threading.Event()
        self._in_outage = False  # touched by paho's network thread only
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            client.username_pw_set(username, password)
        client.connect_timeout = connect_timeout_s
        client.reconnect_delay_set(*reconnect_delay_s)
        # Unacknowledged messages wait in paho's memory for a reconnect: bound them (publish then fails).
        client.max_queued_messages_set(max_queued_messages)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._followed: dict[str, Callable[[str, bytes], None]] = {}  # topic filter → its handler
        client.on_message = self._on_message
        self._client = client
        client.connect_async(host, port, keepalive_s)
        client.loop_start()  # retries the first connection too, then reconnects after every drop

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._failed(f"broker refused the connection: {reason}")
            return
        for pattern in list(self._followed):  # a new session has no subscriptions (clean start)
            client.subscribe(pattern, qos=1)
        self._connected.set()
        if self._in_outage:
            self._in_outage = False
            log.warning("MQTT %s:%s reachable again", self.host, self.port)
        else:
            log.info("MQTT connected to %s:%s", self.host, self.port)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._failed(f"cannot connect to {self.host}:{self.port}")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if reason.is_failure:
            self._failed(f"disconnected: {reason}")

    def _failed(self, error: str) -> None:
        self.last_error = error
        if not self._in_outage:
            self._in_outage = True
            log.warning("MQTT %s:%s: %s; retrying in the background (logged again when it is back)",
                        self.host, self.port, error)

    def follow(self, pattern: str, on_message: Callable[[str, bytes], None]) -> None:
        """Subscribe to ``pattern`` now and after every reconnect; ``on_message(topic, payload)`` runs on paho's
        network thread for each message (the retained ones first, right after subscribing)."""
        self._followed[pattern] = on_message
        if self.connected:
            self._client.subscribe(pattern, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        for pattern, on_message in list(self._followed.items()):
            if mqtt.topic_matches_sub(pattern, message.topic):
                on_message(message.topic, message.payload)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float | None = None) -> bool:
        return self._connected.wait(self.connect_timeout_s if timeout_s is None else timeout_s)

    def publish_bytes(self, topic: str, payload: bytes, retain: bool = False, qos: int = 1) -> bool:
        """Publish and wait (bounded) for the broker's acknowledgement (PUBACK at QoS 1)."""
        if not self.wait_connected():
            self.last_error = self.last_error or f"not connected to {self.host}:{self.port}"
            return False
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as error:
            self.last_error = f"publish failed: {error}"
            return False
        if not info.is_published():
            self.last_error = f"no acknowledgement from the broker within {self.publish_timeout_s} s"
            return False
        self.last_error = None
        return True

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False, qos: int = 1) -> bool:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.publish_bytes(topic, body, retain=retain, qos=qos)

    def clear_zone_state(self, site_code: str, camera_id: str, zone_id: str) -> bool:
        """Remove the retained state (an empty retained payload), e.g. when a zone is deleted."""
        return self.publish_bytes(zone_state_topic(site_code, camera_id, zone_id), b"", retain=True)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ZoneState:
    """What is retained per zone. No dwell time: it grows every frame, and each change would be a message.

    ``stale``: nobody watches the zone now (its camera stopped reporting, failed or was stopped); ``occupied`` and
    ``violations`` are then as last seen, and ``since`` is the camera's last report.
    """

    occupied: bool
    violations: int
    since: datetime  # when the zone took this state (for a zone's first update in this process: then)
    stale: bool = False

    def payload(self) -> dict[str, Any]:
        return {"occupied": self.occupied, "violations": self.violations, "since": self.since.isoformat(),
                "stale": self.stale}


class ZoneStatePublisher:
    """Retained zone states, published by its own thread so a camera loop never waits on the broker.

    ``update`` compares with the zone's latest state (published or waiting) and, on a change, queues the
    zone; the thread publishes, oldest change first, each queued zone's newest state, and keeps a zone queued
    until the broker acknowledged it. A zone that changes again while queued has its state replaced, not
    queued twice (a retained topic only needs the latest). At most ``max_pending`` zones wait; the change of
    any further zone is dropped, logged, and taken again at the zone's next update.
    """

    def __init__(
        self,
        mqtt: MqttPublisher,
        *,
        max_pending: int = 1000,
        retry_s: float = 0.5,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._mqtt = mqtt
        self.max_pending = max_pending
        self._retry_s = retry_s
        self._clock = clock
        self._changed = threading.Condition()
        self._latest: dict[str, ZoneState] = {}  # per topic: the newest state queued or published
        self._pending: dict[str, ZoneState] = {}  # per topic, oldest change first: not yet acknowledged
        self._dropped = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-zone-states", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Zones whose latest state the broker has not acknowledged yet."""
        with self._changed:
            return len(self._pending)

    def update(self, site_code: str, camera_id: str, zone_id: str, *, occupied: bool, violations: int,
               stale: bool = False, since: datetime | None = None) -> None:
        """Record a zone's current state; returns at once (never touches the network). ``since`` (default: now)
        is taken only when the state changes."""
        topic = zone_state_topic(site_code, camera_id, zone_id)
        with self._changed:
            latest = self._latest.get(topic)
            if latest is not None and (latest.occupied, latest.violations, latest.stale) == (
                    occupied, violations, stale):
                return
            if topic not in self._pending and len(self._pending) >= self.max_pending:
                if self._dropped == 0:
                    log.warning("MQTT zone states: %d zones already wait for the broker; dropping the changes "
                                "of further zones until they are published", self.max_pending)
                self._dropped += 1
                return
            state = ZoneState(occupied, violations, since or self._clock(), stale)
            self._latest[topic] = self._pending[topic] = state  # a queued zone keeps its place in line
            self._changed.notify()

    def forget(self, site_code: str, camera_id: str, zone_ids: list[str]) -> None:
        """Another publisher has these zones now: their next ``update`` here is a change, whatever it says."""
        with self._changed:
            for zone_id in zone_ids:
                topic = zone_state_topic(site_code, camera_id, zone_id)
                self._latest.pop(topic, None)
                self._pending.pop(topic, None)

    def _run(self) -> None:
        while not self._closing.is_set():
            with self._changed:
                if not self._pending:
                    if not self._closing.is_set():  # checked under the lock, so close()'s notify is not missed
                        self._changed.wait()
                    continue
                topic, state = next(iter(self._pending.items()))
            if not self._mqtt.wait_connected(self._retry_s):  # MqttPublisher logs the outage
                continue
            if not self._mqtt.publish(topic, state.payload(), retain=True):
                self._closing.wait(self._retry_s)
                continue
            with self._changed:
                if self._pending.get(topic) is state:
                    del self._pending[topic]
                if self._dropped and len(self._pending) < self.max_pending:
                    log.warning("MQTT zone states: %d changes were dropped while the queue was full; "
                                "those zones are published at their next update", self._dropped)
                    self._dropped = 0

    def close(self, drain_s: float = 0.0) -> None:
        """Stop publishing, after waiting up to ``drain_s`` for the states still queued (a serve that stops says
        its lanes are no longer watched); what still waits then is dropped (the next process publishes every zone
        afresh)."""
        deadline = time.monotonic() + drain_s
        with self._changed:
            while self._pending and time.monotonic() < deadline:
                self._changed.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        self._closing.set()
        with self._changed:
            self._changed.notify()
        self._thread.join(self._mqtt.publish_timeout_s + self._retry_s + 1)
