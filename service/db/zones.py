"""Versioned zone files of cameras: every save is a new version; the highest is current."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from service.db.models import Camera, Site, ZoneVersion
from zones.config import CameraZones, ZoneFileError, parse_zones


def current_zones(session: Session, camera_id: str) -> ZoneVersion | None:
    query = (
        select(ZoneVersion)
        .where(ZoneVersion.camera_id == camera_id)
        .order_by(ZoneVersion.version.desc())
        .limit(1)
    )
    return session.scalar(query)


def configured_zones(session: Session) -> dict[str, set[tuple[str, str]]]:
    """Every site's code → the (camera id, zone id) of its cameras' current zones (archived cameras have none)."""
    latest = (select(ZoneVersion.camera_id, func.max(ZoneVersion.version).label("version"))
              .group_by(ZoneVersion.camera_id).subquery())
    query = (select(Site.code, Camera.id, ZoneVersion.document).select_from(Site)
             .outerjoin(Camera, and_(Camera.site_id == Site.id, Camera.archived_at.is_(None)))
             .outerjoin(latest, latest.c.camera_id == Camera.id)
             .outerjoin(ZoneVersion, and_(ZoneVersion.camera_id == latest.c.camera_id,
                                          ZoneVersion.version == latest.c.version)))
    configured: dict[str, set[tuple[str, str]]] = {}
    for site_code, camera_id, document in session.execute(query):
        zones = configured.setdefault(site_code, set())
        for zone in document.get("zones", []) if isinstance(document, dict) else []:
            if isinstance(zone, dict) and zone.get("id") is not None:
                zones.add((camera_id, str(zone["id"])))
    return configured


def list_zone_versions(session: Session, camera_id: str) -> list[ZoneVersion]:
    """Newest first."""
    query = select(ZoneVersion).where(ZoneVersion.camera_id == camera_id).order_by(ZoneVersion.version.desc())
    return list(session.scalars(query))


def validate_zone_document(camera: Camera, document: Any) -> CameraZones:
    """``parse_zones`` plus: the file must be this camera's. Raises ``ZoneFileError`` with every fault."""
    source = f"zones of camera {camera.id!r}"
    try:
        parsed = parse_zones(document, source)
    except ZoneFileError as error:
        problems = list(error.problems)
        if isinstance(document, dict) and "camera_id" in document and document["camera_id"] != camera.id:
            problems.append(f"file: camera_id {document['camera_id']!r} is not this camera ({camera.id!r})")
        raise ZoneFileError(source, problems) from None
    if parsed.camera_id != camera.id:
        raise ZoneFileError(source, [f"file: camera_id {parsed.camera_id!r} is not this camera ({camera.id!r})"])
    return parsed


def save_zones(session: Session, camera: Camera, document: Any, user_id: int | None) -> ZoneVersion:
    """Validate and store ``document`` as the camera's next version; nothing is stored when invalid.

    Two concurrent saves pick the same number and the (camera_id, version) unique key refuses the
    second, so no edit silently overwrites another.
    """
    validate_zone_document(camera, document)
    latest = session.scalar(select(func.max(ZoneVersion.version)).where(ZoneVersion.camera_id == camera.id))
    row = ZoneVersion(camera_id=camera.id, version=(latest or 0) + 1, document=document, created_by=user_id)
    session.add(row)
    session.flush()
    return row
