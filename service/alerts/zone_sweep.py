"""Clearing the retained MQTT states of zones that are gone, run by the cluster's leader.

A retained zone state outlives its zone: once a zone is deleted from a camera's zone file, the camera deleted (or
archived), or moved to another site (its topics carry the site's code), a city platform that subscribes later
would still be told that lane exists, clear or blocked, forever. The leader follows every zone state on the broker
(``firelane/+/+/+/state``; the broker sends the retained ones first) and, every ``interval_s``, clears (an empty
retained message) each topic under one of this installation's site codes whose camera and zone are no longer
configured there. Topics under codes this installation does not have are left alone: the broker may serve other
installations, and a site code renamed away is not known any more (its old topics stay; README says so).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from service.alerts.mqtt import ZONE_STATES, MqttPublisher
from service.db.errors import OutageLog
from service.db.zones import configured_zones

log = logging.getLogger(__name__)


class RetainedZoneSweep:
    """Knows which zone-state topics hold a retained state (from its subscription) and clears the orphans."""

    def __init__(self, sessions: sessionmaker[Session], mqtt: MqttPublisher):
        self._sessions = sessions
        self._mqtt = mqtt
        self._lock = threading.Lock()
        self._on_broker: set[str] = set()  # zone-state topics whose latest message was not empty
        mqtt.follow(ZONE_STATES, self._seen)

    def _seen(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if payload:
                self._on_broker.add(topic)
            else:
                self._on_broker.discard(topic)

    def orphans(self) -> list[str]:
        """Topics on the broker under this installation's site codes whose zone is not configured any more."""
        with self._sessions() as session:
            configured = configured_zones(session)
        with self._lock:
            seen = sorted(self._on_broker)
        orphaned = []
        for topic in seen:
            _, site_code, camera_id, zone_id, _ = topic.split("/")
            if site_code in configured and (camera_id, zone_id) not in configured[site_code]:
                orphaned.append(topic)
        return orphaned

    def sweep_once(self) -> list[str]:
        """Clear every orphan; the topics cleared (one the broker did not acknowledge is tried next time)."""
        cleared = []
        for topic in self.orphans():
            if self._mqtt.publish_bytes(topic, b"", retain=True):
                with self._lock:
                    self._on_broker.discard(topic)
                cleared.append(topic)
        if cleared:
            log.info("MQTT: cleared the retained states of %d zones that no longer exist: %s", len(cleared),
                     ", ".join(cleared))
        return cleared

    def run_forever(self, stop: threading.Event, interval_s: float = 30.0) -> None:
        """``sweep_once`` every ``interval_s`` (the first after one interval, once the retained states have
        arrived) until ``stop``; a database outage is logged, never fatal, and what the broker did not take is
        cleared on a later pass."""
        outage = OutageLog(log, "MQTT retained zone-state sweep")
        while not stop.wait(interval_s):
            try:
                self.sweep_once()
            except Exception as error:  # noqa: BLE001 - sweep again next time
                outage.failed(error)
            else:
                outage.ok()
