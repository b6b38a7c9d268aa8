"""What `firelane serve` runs besides answering requests: camera workers and alert delivery."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.dispatcher import dispatcher_from_settings
from service.db.models import Camera
from service.settings import Settings
from service.camera.workers import WorkerSupervisor

log = logging.getLogger(__name__)


class BackgroundServices:
    """Starts the camera supervisor and the outbox dispatcher on daemon threads; stops both cleanly."""

    def __init__(self, settings: Settings, engine: Engine, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions
        self.dispatcher = dispatcher_from_settings(settings, sessions)
        self.supervisor = WorkerSupervisor(settings, engine, self._load_detector, on_zone_state=self._zone_state)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._site_codes: dict[str, str] = {}

    def _load_detector(self):
        from detector.resolve import load_detector

        s = self.settings
        return load_detector(s.model, models_dirs=s.models_dirs, imgsz=s.imgsz, conf=s.conf,
                             class_map=s.class_map(), allow_download=s.allow_download,
                             export_openvino=s.export_openvino)

    def _zone_state(self, camera_id: str, zones: list[dict]) -> None:
        """Retained MQTT state per zone, so a dashboard that connects later sees each lane at once."""
        mqtt = self.dispatcher.mqtt
        if mqtt is None:
            return
        if camera_id not in self._site_codes:
            with self.sessions() as session:
                camera = session.get(Camera, camera_id)
                if camera is None:
                    return
                self._site_codes[camera_id] = camera.site.code
        at = datetime.now(timezone.utc).isoformat()
        for zone in zones:
            state = {"occupied": zone["occupied"], "violations": zone["violations"],
                     "longest_dwell_s": zone["longest_dwell_s"], "at": at}
            mqtt.publish_zone_state(self._site_codes[camera_id], camera_id, zone["id"], state)

    def start(self) -> None:
        from service import jobs  # closing the loop: escalations every 30 s, the weekly reports on schedule

        s, sessions = self.settings, self.sessions
        loop_jobs = [("escalation", lambda stop: jobs.escalation_loop(sessions, stop, s.escalation_interval_s))]
        if s.reports_enabled:
            loop_jobs.append(("weekly-reports", lambda stop: jobs.report_loop(s, sessions, stop)))
        for name, target in (("camera-supervisor", self.supervisor.run_forever),
                             ("outbox-dispatcher", self.dispatcher.run_forever), *loop_jobs):
            thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("background services started: camera workers, alert delivery, escalations, weekly reports")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)
        if self.dispatcher.mqtt is not None:
            self.dispatcher.mqtt.close()
