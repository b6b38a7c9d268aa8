"""What `firelane serve` runs besides answering requests: camera workers (unless ``run_cameras`` is off: an API-only
process), and, in the one process of the cluster that leads (service.leader), alert delivery, escalations, the
weekly reports and the MQTT zone states of cameras that run elsewhere.

MQTT zone states are published once per zone in the cluster: a process whose cameras run in it publishes theirs
directly from the camera loops; the others (Ray camera actors) are relayed by the leader from the shared camera
status (service.alerts.zone_relay), which skips cameras that publish their own. The leader also clears the
retained states of zones that no longer exist (service.alerts.zone_sweep).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.dispatcher import dispatchers_from_settings, mqtt_publisher
from service.alerts.mqtt import MqttPublisher, ZoneStatePublisher
from service.alerts.zone_relay import ZoneStateRelay
from service.alerts.zone_sweep import RetainedZoneSweep
from service.leader import Leadership
from service.settings import Settings
from service.camera.workers import WorkerSupervisor, load_configured_detector

if TYPE_CHECKING:
    from service.cluster.cameras import ClusterCameras

log = logging.getLogger(__name__)
ZONE_STATES_DRAIN_S = 3.0  # at shutdown, how long queued zone states may take to reach the broker


class BackgroundServices:
    """Starts the camera supervisor, and the cluster's jobs (one outbox dispatcher per channel, escalations, weekly
    reports, the relay of zone states from cameras run elsewhere) while this process leads; daemon threads, stopped
    cleanly."""

    def __init__(self, settings: Settings, engine: Engine, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions
        self.dispatchers = dispatchers_from_settings(settings, sessions)
        self.mqtt = next((d.sender for d in self.dispatchers if isinstance(d.sender, MqttPublisher)), None)
        self.zone_states: ZoneStatePublisher | None = None  # the zone states of this process's own cameras
        self.supervisor: WorkerSupervisor | ClusterCameras | None = None
        if not settings.run_cameras:  # an API-only process: camera status comes from the shared state
            pass
        elif settings.ray_address:  # cluster mode: the cameras run as Ray actors, not in this process
            from service.cluster.cameras import ClusterCameras

            self.supervisor = ClusterCameras(settings)
        else:
            self.zone_states = ZoneStatePublisher(self.mqtt) if self.mqtt is not None else None
            self.supervisor = WorkerSupervisor(settings, engine, self._load_detector,
                                               on_zone_state=self._zone_state if self.zone_states is not None else None)
        self.leadership = Leadership(engine)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _load_detector(self):
        return load_configured_detector(self.settings)

    def _zone_state(self, camera_id: str, zones: list[dict], stale: bool = False) -> None:
        """Retained MQTT state per zone, so a dashboard that connects later sees each lane at once; ``stale`` when
        the camera stopped being watched (its worker lost the stream, failed or stopped).

        Called from the camera loop: it only hands the states over, whatever the broker does.
        """
        site_code = self.supervisor.site_codes.get(camera_id) if self.supervisor else None  # cached: no query
        if self.zone_states is None or site_code is None:
            return
        for zone in zones:
            self.zone_states.update(site_code, camera_id, zone["id"], occupied=zone["occupied"],
                                    violations=zone["violations"], stale=stale)

    def start(self) -> None:
        targets = [("leader-election", lambda stop: self.leadership.run_forever(stop, self._lead))]
        if self.supervisor is not None:
            targets.insert(0, ("camera-supervisor", self.supervisor.run_forever))
        for name, target in targets:
            thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("background services started: %s; alert delivery, escalations and weekly reports where this "
                 "process leads", "camera workers" if self.supervisor is not None else "no cameras (API only)")

    def _lead(self, lost: threading.Event) -> None:
        """The jobs that run once in the cluster, until this process stops leading (``lost``)."""
        from service import jobs  # closing the loop: escalations every 30 s, the weekly reports on schedule

        s, sessions = self.settings, self.sessions
        loop_jobs = [("escalation", lambda stop: jobs.escalation_loop(sessions, stop, s.escalation_interval_s))]
        if s.reports_enabled:
            loop_jobs.append(("weekly-reports", lambda stop: jobs.report_loop(s, sessions, stop)))
        relayed_states: ZoneStatePublisher | None = None
        if self.mqtt is not None and self.zone_states is None:  # the cameras run elsewhere: relay their states
            relayed_states = ZoneStatePublisher(self.mqtt)  # this term's: a new leader publishes every zone afresh
            relay = ZoneStateRelay(sessions, relayed_states)
            loop_jobs.append(("zone-state-relay", lambda stop: relay.run_forever(stop, s.zone_state_relay_s)))
        sweep_mqtt: MqttPublisher | None = None
        if self.mqtt is not None:  # the retained states of deleted zones go (its own connection, this term only)
            sweep_mqtt = mqtt_publisher(s, "sweep")
            sweep = RetainedZoneSweep(sessions, sweep_mqtt)
            loop_jobs.append(("zone-state-sweep", lambda stop: sweep.run_forever(stop, s.zone_state_sweep_s)))
        outbox_jobs = [(f"outbox-{d.channel}", d.run_forever) for d in self.dispatchers]
        threads = [threading.Thread(target=target, args=(lost,), name=name, daemon=True)
                   for name, target in (*outbox_jobs, *loop_jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if relayed_states is not None:
            relayed_states.close()
        if sweep_mqtt is not None:
            sweep_mqtt.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)
        if self.zone_states is not None:  # the stopped cameras' zones went out stale: let them reach the broker
            self.zone_states.close(drain_s=ZONE_STATES_DRAIN_S)
        for dispatcher in self.dispatchers:
            dispatcher.sender.close()
