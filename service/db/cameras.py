"""Registered cameras. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.errors import ConflictError, NotFoundError
from service.db.models import Camera, Violation
from service.db.sites import require_site


def list_cameras(session: Session, *, only_site_id: int | None = None, site_id: int | None = None) -> list[Camera]:
    query = select(Camera).where(Camera.archived_at.is_(None)).order_by(Camera.id)
    if only_site_id is not None:
        query = query.where(Camera.site_id == only_site_id)
    if site_id is not None:
        query = query.where(Camera.site_id == site_id)
    return list(session.scalars(query))


def get_camera(session: Session, camera_id: str, *, only_site_id: int | None = None) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None or camera.archived_at is not None or (only_site_id is not None and camera.site_id != only_site_id):
        raise NotFoundError(f"no camera {camera_id!r}")
    return camera


def create_camera(session: Session, fields: Mapping[str, Any]) -> Camera:
    existing = session.get(Camera, fields["id"])
    if existing is not None:
        archived = " (archived with its history)" if existing.archived_at is not None else ""
        raise ConflictError(f"a camera with id {fields['id']!r} exists{archived}")
    require_site(session, fields["site_id"])
    camera = Camera(**fields)
    session.add(camera)
    session.flush()
    return camera


def update_camera(session: Session, camera: Camera, changes: Mapping[str, Any]) -> Camera:
    if "site_id" in changes:
        require_site(session, changes["site_id"])
    for key, value in changes.items():
        setattr(camera, key, value)
    session.flush()
    return camera


def delete_camera(session: Session, camera: Camera) -> None:
    """A camera with no history goes, with its zone versions. One with violations is archived instead (disabled,
    hidden from lists and edits): its violations keep their site, camera name and zone names in every ledger."""
    if session.scalar(select(Violation.id).where(Violation.camera_id == camera.id).limit(1)) is None:
        session.delete(camera)
    else:
        camera.enabled, camera.archived_at = False, datetime.now(timezone.utc)
    session.flush()
