"""MQTT publishing (QoS 1, waiting for the broker's PUBACK) for violations and retained zone states."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)
TOPIC_ROOT = "firelane"


def _segment(value: str, what: str) -> str:
    """A topic level must not be empty or contain ``/``, ``+`` or ``#``: it would publish elsewhere."""
    if not value or any(c in value for c in "/+#\0"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def zone_state_topic(site_code: str, camera_id: str, zone_id: str) -> str:
    parts = (_segment(site_code, "site code"), _segment(camera_id, "camera id"), _segment(zone_id, "zone id"))
    return "/".join((TOPIC_ROOT, *parts, "state"))


class MqttPublisher:
    """One broker connection, kept up by paho's network thread (it reconnects on its own).

    ``publish`` never blocks longer than ``connect_timeout_s + publish_timeout_s``; a False return
    means "not confirmed", and the outbox retries, so subscribers may see a message twice (at-least-once).
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
    ) -> None:
        self.host, self.port = host, port
        self.publish_timeout_s = publish_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.last_error: str | None = None
        self._connected = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            client.username_pw_set(username, password)
        client.connect_timeout = connect_timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        client.connect_async(host, port, keepalive_s)
        client.loop_start()  # retries the first connection too, then reconnects after every drop

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.warning("MQTT %s:%s: %s", self.host, self.port, self.last_error)
            return
        self._connected.set()
        log.info("MQTT connected to %s:%s", self.host, self.port)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.last_error = f"cannot connect to {self.host}:{self.port}"

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if reason.is_failure:
            self.last_error = f"disconnected: {reason}"
            log.warning("MQTT %s:%s %s; reconnecting", self.host, self.port, self.last_error)

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

    def publish_zone_state(self, site_code: str, camera_id: str, zone_id: str, state: dict[str, Any]) -> bool:
        """Retained, so a dashboard that subscribes later sees each zone's current state at once."""
        return self.publish(zone_state_topic(site_code, camera_id, zone_id), state, retain=True)

    def clear_zone_state(self, site_code: str, camera_id: str, zone_id: str) -> bool:
        """Remove the retained state (an empty retained payload), e.g. when a zone is deleted."""
        return self.publish_bytes(zone_state_topic(site_code, camera_id, zone_id), b"", retain=True)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
