"""Cameras and their versioned zones. Source URLs may hold credentials: only operators see them whole."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status

from service.api.deps import CurrentUser, OperatorUser, SessionDep, StrictJSONRoute, site_scope
from service.api.present import camera_out, redact_source
from service.api.schemas import (
    CameraCreate,
    CameraIdPath,
    CameraOut,
    CameraUpdate,
    IdQuery,
    ProblemsResponse,
    ZoneVersionOut,
)
from service.db import audit, cameras, zones
from service.db.errors import NotFoundError
from service.db.models import ZoneVersion

router = APIRouter(prefix="/api/cameras", tags=["cameras"], route_class=StrictJSONRoute)


def _audit_details(changes: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a camera's fields: JSON values (times as ISO text), no credentials."""
    if "source_url" in changes:
        changes = {**changes, "source_url": redact_source(changes["source_url"])}
    if changes.get("recording_start") is not None:
        changes = {**changes, "recording_start": changes["recording_start"].isoformat()}
    return changes


@router.get("", response_model=list[CameraOut])
def list_cameras(session: SessionDep, user: CurrentUser, site_id: IdQuery = None) -> list[CameraOut]:
    found = cameras.list_cameras(session, only_site_id=site_scope(user), site_id=site_id)
    return [camera_out(c, user) for c in found]


@router.post("", response_model=CameraOut, status_code=status.HTTP_201_CREATED)
def create_camera(body: CameraCreate, session: SessionDep, user: OperatorUser) -> CameraOut:
    camera = cameras.create_camera(session, body.model_dump())
    audit.record(session, user.id, "camera.create", f"camera:{camera.id}", _audit_details(body.model_dump()))
    session.commit()
    return camera_out(camera, user)


@router.get("/{camera_id}", response_model=CameraOut)
def get_camera(camera_id: CameraIdPath, session: SessionDep, user: CurrentUser) -> CameraOut:
    return camera_out(cameras.get_camera(session, camera_id, only_site_id=site_scope(user)), user)


@router.patch("/{camera_id}", response_model=CameraOut)
def update_camera(camera_id: CameraIdPath, body: CameraUpdate, session: SessionDep, user: OperatorUser) -> CameraOut:
    camera = cameras.update_camera(session, cameras.get_camera(session, camera_id), body.changes())
    audit.record(session, user.id, "camera.update", f"camera:{camera.id}", _audit_details(body.changes()))
    session.commit()
    return camera_out(camera, user)


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_camera(camera_id: CameraIdPath, session: SessionDep, user: OperatorUser) -> Response:
    camera = cameras.get_camera(session, camera_id)
    cameras.delete_camera(session, camera)
    audit.record(session, user.id, "camera.delete", f"camera:{camera_id}", {"site_id": camera.site_id})
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{camera_id}/zones", response_model=ZoneVersionOut, tags=["zones"])
def get_zones(camera_id: CameraIdPath, session: SessionDep, user: CurrentUser) -> ZoneVersion:
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    current = zones.current_zones(session, camera.id)
    if current is None:
        raise NotFoundError(f"camera {camera.id!r} has no zones yet")
    return current


@router.put(
    "/{camera_id}/zones",
    response_model=ZoneVersionOut,
    tags=["zones"],
    responses={422: {"model": ProblemsResponse, "description": "the zone file is invalid; every fault named"}},
    summary="Save the camera's zone file as a new version",
)
def put_zones(
    camera_id: CameraIdPath,
    document: Annotated[Any, Body(description="the whole zone file, as `firelane run --zones` reads it")],
    session: SessionDep,
    user: OperatorUser,
) -> ZoneVersion:
    camera = cameras.get_camera(session, camera_id)
    saved = zones.save_zones(session, camera, document, user.id)
    zone_ids = [z.get("id") for z in document.get("zones", []) if isinstance(z, dict)]
    audit.record(session, user.id, "zone.update", f"camera:{camera.id}", {"version": saved.version, "zones": zone_ids})
    session.commit()
    return saved


@router.get("/{camera_id}/zones/versions", response_model=list[ZoneVersionOut], tags=["zones"])
def zone_versions(camera_id: CameraIdPath, session: SessionDep, user: CurrentUser) -> list[ZoneVersion]:
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    return zones.list_zone_versions(session, camera.id)
