"""A camera as it is now: its latest snapshot (saved by its worker, or grabbed on demand) and what it detects.

Any API process answers: the status comes from the shared camera state in the database (service.db.camera_states),
written by whichever process runs the camera; the process that runs it adds the objects it sees right now.

For operators (drawing zones) and the property staff of the camera's site; others get 404 for
cameras of other sites, as everywhere else.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import cv2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from detector.sources import SourceError, redact_url
from service.api.deps import (
    OperatorUser,
    SessionDep,
    SettingsDep,
    StrictJSONRoute,
    require_roles,
    site_scope,
)
from service.api.messages import translate
from service.api.schemas import (
    CameraIdPath,
    ProbeOut,
    ProblemsResponse,
    SnapshotOut,
    SourceProbe,
)
from service.api.ui_schemas import LiveOut
from service.camera.snapshot import grab_frame, take_snapshot
from service.db import audit, camera_states, cameras
from service.db.errors import NotFoundError
from service.evidence_store import EvidenceMissing, snapshot_key
from service.db.models import User

router = APIRouter(prefix="/api/cameras", tags=["live"], route_class=StrictJSONRoute)
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
    camera_id: CameraIdPath, request: Request, session: SessionDep, settings: SettingsDep, user: CameraViewer
) -> Response:
    """From this machine when it runs the camera, else from object storage (where the camera's process shares it)."""
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    path = snapshot_path(settings.out_dir, camera.id)
    if path is not None:
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
    if settings.evidence_url:
        try:
            data = request.app.state.evidence_store.read(snapshot_key(camera.id))
        except EvidenceMissing:
            pass
        else:
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
    raise NotFoundError(f"camera {camera.id!r} has no snapshot yet")


@router.post(
    "/probe",
    response_model=ProbeOut,
    responses={422: {"model": ProblemsResponse, "description": "the source gave no frame in time"}},
    summary="Test a source URL before saving a camera: one frame, at once",
)
def probe_source(body: SourceProbe, settings: SettingsDep, _: OperatorUser) -> ProbeOut:
    image = grab_frame(body.source_url, settings.snapshot_timeout_s)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise SourceError(f"{redact_url(body.source_url)} gave no frame (not a video or image, or unreadable)")
    encoded = base64.b64encode(data.tobytes()).decode("ascii")
    return ProbeOut(width=image.shape[1], height=image.shape[0], image=f"data:image/jpeg;base64,{encoded}")


@router.post(
    "/{camera_id}/snapshot",
    response_model=SnapshotOut,
    responses={422: {"model": ProblemsResponse, "description": "the source gave no frame in time"}},
    summary="Grab a frame from the camera's source now and keep it as its snapshot, with its real frame size",
)
def take_camera_snapshot(
    camera_id: CameraIdPath, request: Request, session: SessionDep, settings: SettingsDep, user: OperatorUser
) -> SnapshotOut:
    camera = cameras.get_camera(session, camera_id)
    width, height, taken_at = take_snapshot(camera.source_url, settings.out_dir, camera.id, settings.snapshot_timeout_s)
    if settings.evidence_url:  # shared, so every API process shows it (as camera processes share theirs)
        path = snapshot_path(settings.out_dir, camera.id)
        if path is not None:
            request.app.state.evidence_store.put(snapshot_key(camera.id), path.read_bytes())
    cameras.update_camera(session, camera, {"frame_width": width, "frame_height": height})
    audit.record(session, user.id, "camera.snapshot", f"camera:{camera.id}", {"width": width, "height": height})
    session.commit()
    return SnapshotOut(camera_id=camera.id, width=width, height=height, taken_at=taken_at)


@router.get(
    "/{camera_id}/live",
    response_model=LiveOut,
    response_model_by_alias=True,
    summary="What the camera's worker sees now: objects with boxes and zones, zone occupancy",
)
def get_live(camera_id: CameraIdPath, request: Request, session: SessionDep, user: CameraViewer) -> LiveOut:
    """``running`` is false (and the lists empty) when no worker runs the camera, here or elsewhere."""
    camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    supervisor = getattr(request.app.state, "supervisor", None)
    status = supervisor.status(camera.id) if supervisor is not None else None
    problems = getattr(supervisor, "problems", None) or {}
    problem = _hide_credentials(problems.get(camera.id), user)
    problem_zh = translate(problem) if problem else None
    if status is None:
        return _shared_status(session, camera.id, problem, user)
    error = _hide_credentials(status.error, user)
    return LiveOut(
        camera_id=camera.id,
        running=True,
        here=True,
        state=status.state,
        frames=status.frames,
        last_frame_at=status.last_frame_at,
        error=error,
        error_zh=translate(error) if error else None,
        problem=problem,
        problem_zh=problem_zh,
        zone_version=status.zone_version,
        recording_start=status.recording_start,
        recording_start_origin=status.recording_start_origin,
        objects=list(status.objects),  # the worker swaps whole lists: a copy of the reference is consistent
        zones=list(status.zones),
    )


def _shared_status(session: Session, camera_id: str, problem: str | None, user: User) -> LiveOut:
    """The camera as the process that runs it last reported it (no objects: they are not shared)."""
    row = camera_states.get_status(session, camera_id)
    problem_zh = translate(problem) if problem else None
    state = None if row is None else camera_states.current_state(row.status, row.status_at, datetime.now(timezone.utc))
    if row is None or state is None:
        return LiveOut(camera_id=camera_id, running=False, problem=problem, problem_zh=problem_zh)
    watching = state in camera_states.WATCHING
    error = _hide_credentials(row.status_detail, user)
    return LiveOut(camera_id=camera_id, running=watching, state=state, reported_at=row.status_at,
                   last_frame_at=row.last_frame_at, error=error, error_zh=translate(error) if error else None,
                   problem=problem, problem_zh=problem_zh, zones=list(row.zones or []) if watching else [])
