"""Response bodies of the endpoints the web UI reads: live camera state, dashboard statistics, alert board."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import AlertOut, ReviewStatus

# --- live camera state (service.camera.workers.CameraStatus) ---


class LiveObject(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_name: str = Field(alias="class", description="detector class, e.g. car")
    category: str = Field(description="vehicle, obstacle or obstruction (anything at rest no class names)")
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the camera's frames")
    zones: list[str] = Field(description="ids of the zones this object occupies")


class LiveZone(BaseModel):
    id: str
    name: str
    occupied: bool
    violations: int = 0
    longest_dwell_s: float = 0.0


class LiveOut(BaseModel):
    camera_id: str
    running: bool = Field(description="a worker runs this camera, in this process or another (the shared state: "
                          "its process reported within the last 30 s)")
    here: bool = Field(False, description="this server process runs it: objects and frames are only known there")
    state: str | None = Field(None, description="starting, running, reconnecting, error, stopped, finished; "
                              "stale when the camera's process has not reported for 30 s")
    reported_at: datetime | None = Field(None, description="when the camera's process last reported its status")
    frames: int = 0
    last_frame_at: datetime | None = None
    error: str | None = None
    problem: str | None = Field(None, description="why the camera is not running (no zones, invalid zones)")
    error_zh: str | None = Field(None, description="error in Chinese, where there is a translation")
    problem_zh: str | None = Field(None, description="problem in Chinese, where there is a translation")
    zone_version: int | None = None
    recording_start: datetime | None = Field(None, description="a recorded file: the first frame's capture time")
    recording_start_origin: Literal["given", "file name", "file time"] | None = Field(
        None, description="where that came from: the camera's recording_start, the file name, or the file's time")
    objects: list[LiveObject] = []
    zones: list[LiveZone] = []


# --- dashboard ---


class CountsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    open: int = Field(description="violations still going on (not ended)")
    pending: int = Field(description="violations waiting for police review")
    total: int


class CameraCountsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    camera_id: str
    camera_name: str | None
    counts: CountsOut


class SiteCountsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_id: int | None = Field(description="null: cameras that are not registered")
    site_code: str | None
    site_name: str | None
    counts: CountsOut
    cameras: list[CameraCountsOut]


class TimelineSpan(BaseModel):
    violation_id: str
    object_class: str
    started_at: datetime
    violation_at: datetime
    ended_at: datetime | None
    review_status: ReviewStatus


class TimelineLane(BaseModel):
    site_code: str | None
    site_name: str | None = None
    camera_id: str
    camera_name: str | None
    zone_id: str
    zone_name: str
    zone_kind: str
    spans: list[TimelineSpan]


class TimelineOut(BaseModel):
    since: datetime
    until: datetime
    now: datetime
    fitted: bool = Field(description="nothing in the requested hours: the range of the newest violations instead")
    lanes: list[TimelineLane]


# --- alert board ---


class BoardAlertOut(AlertOut):
    site_code: str
    site_name: str
    camera_name: str | None
    zone_name: str
    zone_kind: str
    object_class: str
    started_at: datetime
    violation_at: datetime
    ended_at: datetime | None
    duration_s: float
    still_url: str | None = Field(description="the grace still (else the first still) of the violation")
    still_captured_at: datetime | None
    claim_unconfirmed: bool = Field(description="staff reported the lane cleared; the camera still sees the occupant")
