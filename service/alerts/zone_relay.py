"""MQTT zone states of the cameras that run outside the API processes (Ray camera actors), relayed by the
cluster's leader from the shared camera status (``camera_states``): each zone is published once in the cluster,
whichever node runs its camera.

A camera run inside a single-process ``firelane serve`` publishes its own zone states as they change (its row says
``publishes_zone_states``) and is not relayed while it watches: no zone is published twice. Once nobody watches it
(its process died or stopped it, or it is in error) its own process publishes nothing more, so the leader
publishes its zones as stale, as for any other camera; when it watches again its process takes over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.alerts.mqtt import ZoneStatePublisher, utc_now
from service.db.camera_states import WATCHING, ZoneReport, current_state, zone_reports
from service.db.errors import OutageLog

log = logging.getLogger(__name__)


class ZoneStateRelay:
    """Reads the shared camera status every ``interval_s`` and hands each zone's state to a ``ZoneStatePublisher``,
    which publishes it (retained) only when it changed.

    - A watching camera (starting, running or reconnecting, and reported within ``STALE_AFTER_S``): each zone's
      occupancy, ``since`` the camera's report that carried it.
    - A camera nobody watches (``stale``: no report for ``STALE_AFTER_S``; or ``error``, ``stopped``,
      ``finished``): each of its zones once more with ``"stale": true``, the occupancy as last seen and ``since``
      the camera's last report. A city platform keeps the lane but knows it is not being watched; the retained
      state never claims a lane is clear (or blocked) when nobody looks. Fresh states follow once it reports again.
    - The publisher lives for one leadership term: a new leader publishes every zone once (one retained refresh,
      harmless to subscribers, with ``since`` the latest report), then only changes; in the short overlap of a
      hand-over (service.leader) both leaders may publish a change, the same state twice. A change that comes and
      goes between two reads (or two status writes of the camera's process) is not seen.
    """

    def __init__(self, sessions: sessionmaker[Session], publisher: ZoneStatePublisher,
                 clock: Callable[[], datetime] = utc_now):
        self._sessions = sessions
        self._publisher = publisher
        self._clock = clock
        self._last_zones: dict[str, list[dict[str, Any]]] = {}  # camera id → its zones as last reported
        self._unpublishable: set[str] = set()  # cameras already logged as having an id MQTT cannot carry

    def relay_once(self) -> int:
        """Hand every relayed camera's zones to the publisher; how many cameras were read."""
        now = self._clock()
        with self._sessions() as session:
            reports = zone_reports(session)
        for report in reports:
            try:
                self._relay(report, now)
            except (KeyError, TypeError, ValueError) as error:  # one camera's bad row must not stop the others
                if report.camera_id not in self._unpublishable:
                    self._unpublishable.add(report.camera_id)
                    log.warning("MQTT zone states of camera %s not relayed: %s", report.camera_id, error)
        return len(reports)

    def _relay(self, report: ZoneReport, now: datetime) -> None:
        if report.zones:
            self._last_zones[report.camera_id] = report.zones
        watching = current_state(report.status, report.status_at, now) in WATCHING
        if watching and report.publishes_itself:  # its process publishes; a later stale state must go out again
            self._publisher.forget(report.site_code, report.camera_id,
                                   [str(z["id"]) for z in self._last_zones.get(report.camera_id, [])])
            return
        if watching and not report.zones:  # starting: no frame yet, so nothing known about its zones
            return
        for zone in self._last_zones.get(report.camera_id, []):
            self._publisher.update(report.site_code, report.camera_id, str(zone["id"]),
                                   occupied=bool(zone["occupied"]), violations=int(zone["violations"]),
                                   stale=not watching, since=report.status_at)

    def run_forever(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """``relay_once`` every ``interval_s`` until ``stop``; a database outage is logged, never fatal."""
        outage = OutageLog(log, "MQTT zone-state relay")
        while not stop.is_set():
            try:
                self.relay_once()
            except Exception as error:  # noqa: BLE001 - keep relaying once the database is back
                outage.failed(error)
            else:
                outage.ok()
            stop.wait(interval_s)
