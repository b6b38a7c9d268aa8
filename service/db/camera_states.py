"""Checkpointed camera state and camera health, shared by every process. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Camera, CameraState, Site

HEARTBEAT_S = 10.0  # a camera's process reports its status at least this often while it runs
STALE_AFTER_S = 3 * HEARTBEAT_S  # no report for this long: whatever the status says, nobody is watching
WATCHING = ("starting", "running", "reconnecting")  # a worker has the camera


def current_state(status: str, status_at: datetime | None, now: datetime) -> str | None:
    """A reported status as it stands at ``now``: ``stale`` when a watching camera stopped reporting; None when
    the camera never reported."""
    if status_at is None:
        return None
    if status in WATCHING and (now - status_at).total_seconds() > STALE_AFTER_S:
        return "stale"
    return status


def _row(session: Session, camera_id: str, saved_at: datetime) -> CameraState:
    row = session.get(CameraState, camera_id)
    if row is None:
        row = CameraState(camera_id=camera_id, state={}, saved_at=saved_at)
        session.add(row)
    return row


def save_checkpoint(session: Session, camera_id: str, state: dict[str, Any], capture_at: datetime | None,
                    saved_at: datetime, owner: str) -> CameraState:
    """Keep ``state`` unless the row already holds a later one (an old spool entry applied late)."""
    row = _row(session, camera_id, saved_at)
    if row.capture_at is not None and capture_at is not None and capture_at < row.capture_at:
        return row
    row.state, row.capture_at, row.saved_at, row.owner = state, capture_at, saved_at, owner
    session.flush()
    return row


def load_checkpoint(session: Session, camera_id: str) -> CameraState | None:
    row = session.get(CameraState, camera_id)
    return row if row is not None and row.state else None


def set_status(session: Session, camera_id: str, status: str, detail: str | None, at: datetime,
               last_frame_at: datetime | None = None, zones: list[dict[str, Any]] | None = None,
               publishes_zone_states: bool = False) -> None:
    """The camera's health as its process reports it (``last_frame_at`` and ``zones`` kept when not given);
    ``publishes_zone_states``: that process publishes the zones' MQTT states itself, nobody relays them."""
    row = _row(session, camera_id, at)
    row.status, row.status_detail, row.status_at = status, detail, at
    row.publishes_zone_states = publishes_zone_states
    if last_frame_at is not None:
        row.last_frame_at = last_frame_at
    if zones is not None:
        row.zones = zones
    session.flush()


def get_status(session: Session, camera_id: str) -> CameraState | None:
    return session.get(CameraState, camera_id)


def clear_checkpoint(session: Session, camera_id: str) -> None:
    """Forget the occupancy state (its violations were settled elsewhere), keep the health columns."""
    row = session.get(CameraState, camera_id)
    if row is not None:
        row.state, row.capture_at = {}, None
        session.flush()


@dataclass(frozen=True)
class ZoneReport:
    """A camera's last reported zone occupancy, for relaying its MQTT zone states."""

    camera_id: str
    site_code: str
    status: str
    status_at: datetime
    zones: list[dict[str, Any]]  # as the worker reports them: {"id", "occupied", "violations", ...}
    publishes_itself: bool = False  # its own process publishes its zone states while it watches


def zone_reports(session: Session) -> list[ZoneReport]:
    """Every camera that has reported, and whether its own process publishes its zone states."""
    query = (select(CameraState.camera_id, Site.code, CameraState.status, CameraState.status_at, CameraState.zones,
                    CameraState.publishes_zone_states)
             .join(Camera, Camera.id == CameraState.camera_id).join(Site, Site.id == Camera.site_id)
             .where(CameraState.status_at.is_not(None))
             .order_by(CameraState.camera_id))
    return [ZoneReport(camera_id, site_code, status, status_at, list(zones or []), bool(publishes))
            for camera_id, site_code, status, status_at, zones, publishes in session.execute(query)]
