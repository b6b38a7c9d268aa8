"""A camera as it is now: the latest snapshot the worker saved and what it currently detects.

For operators (drawing zones) and the property staff of the camera's site; others get 404 for
cameras of other sites, as everywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from service.api.deps import SessionDep, SettingsDep, require_roles, site_scope
from service.api.schemas import CameraIdPath
from service.api.ui_schemas import LiveOut
from service.db import cameras
from service.db.errors import NotFoundError
from service.db.models import User

router = APIRouter(prefix="/api/cameras", tags=["live"])
CameraViewer = Annotated[User, Depends(require_roles("operator", "property"))]
_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def snapshot_path(out_dir: Path, camera_id: str) -> Path | None:
    """``<out_dir>/snapshots/<camera_id>.jpg`` when it exists and stays inside that folder."""
    folder = (out_dir.expanduser() / "snapshots").resolve()
    path = (folder / f"{camera_id}.jpg").resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path


def _hide_credentials(text: str | None, user: User) -> str | None:
    """Stream errors may quote the source URL: only operators see its user:password@."""
    if text is None or user.role == "operator":
        return text
    return _CREDENTIALS.sub(r"\1***@", text)


@router.get(
    "/{camera_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such camera, or no snapshot yet"}},
    summary="The latest frame of a running camera (the zone editor draws on it)",
)
def get_snapshot(
    camera_id: CameraIdPath, session: SessionDep, settings: SettingsDep, user: CameraViewer
) -> FileResponse:
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    path = snapshot_path(settings.out_dir, camera.id)
    if path is None:
        raise NotFoundError(f"camera {camera.id!r} has no snapshot yet")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/{camera_id}/live",
    response_model=LiveOut,
    response_model_by_alias=True,
    summary="What the camera's worker sees now: objects with boxes and zones, zone occupancy",
)
def get_live(camera_id: CameraIdPath, request: Request, session: SessionDep, user: CameraViewer) -> LiveOut:
    """``running`` is false (and the lists empty) when no worker runs the camera in this process."""
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    supervisor = getattr(request.app.state, "supervisor", None)
    status = supervisor.status(camera.id) if supervisor is not None else None
    problems = getattr(supervisor, "problems", None) or {}
    problem = _hide_credentials(problems.get(camera.id), user)
    if status is None:
        return LiveOut(camera_id=camera.id, running=False, problem=problem)
    return LiveOut(
        camera_id=camera.id,
        running=True,
        state=status.state,
        frames=status.frames,
        last_frame_at=status.last_frame_at,
        error=_hide_credentials(status.error, user),
        problem=problem,
        zone_version=status.zone_version,
        recording_start=status.recording_start,
        recording_start_origin=status.recording_start_origin,
        objects=list(status.objects),  # the worker swaps whole lists: a copy of the reference is consistent
        zones=list(status.zones),
    )
