"""Request and response bodies of the API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Role = Literal["operator", "property", "police"]
ReviewStatus = Literal["pending", "confirmed", "rejected"]
AlertStatus = Literal["open", "acknowledged", "cleared", "left"]  # left: the vehicle left before anyone acted

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SITE_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
NO_NUL_PATTERN = r"^[^\x00]*$"
# Integer columns are 32-bit on PostgreSQL: a larger id or offset is refused here (422), not there (500).
DB_INT_MAX = 2**31 - 1


def _no_nul(value: str) -> str:
    """PostgreSQL text (and JSONB) cannot hold a NUL character: refused here rather than failing the insert."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
CameraId = Annotated[str, StringConstraints(pattern=CAMERA_ID_PATTERN)]
SiteCode = Annotated[str, StringConstraints(pattern=SITE_CODE_PATTERN)]
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
def _strong(value: str) -> str:
    from service.api.security import password_problem

    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Password = Annotated[str, StringConstraints(max_length=256), AfterValidator(_strong)]
Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
RowId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
_PLATE = re.compile(r"^[\u4e00-\u9fffA-Z0-9]{5,12}$")

# --- path and query parameters: bounded like the columns they are looked up in ---

IdPath = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
IdQuery = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]
CameraIdPath = Annotated[str, Path(pattern=CAMERA_ID_PATTERN)]
ViolationIdPath = Annotated[str, Path(max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX)]


class Input(BaseModel):
    """Request bodies: unknown fields are mistakes, and said so; JSON's NaN and Infinity are never numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Patch(Input):
    """PATCH bodies: only the fields given change; ``null`` only where the column may be empty."""

    _not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Patch:
        bad = sorted(k for k in self.model_fields_set & self._not_null if getattr(self, k) is None)
        if bad:
            raise ValueError(f"{', '.join(bad)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


# --- auth and users ---


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserOut(Output):
    id: int
    username: str
    role: Role
    site_id: int | None
    active: bool
    created_at: datetime


class UserCreate(Input):
    username: Username
    password: Password
    role: Role
    site_id: RowId | None = None
    active: bool = True


class UserUpdate(Patch):
    _not_null = frozenset({"password", "role", "active"})
    password: Password | None = None
    role: Role | None = None
    site_id: RowId | None = None
    active: bool | None = None


# --- sites and cameras ---


Address = Annotated[Text, StringConstraints(max_length=512)]
SourceUrl = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64)]
ClearLimit = Annotated[
    int, Field(ge=60, le=7 * 86400, description="seconds property staff have after an alert to clear the lane")
]


class SiteOut(Output):
    id: int
    code: str
    name: str
    address: str
    clear_limit_s: int
    created_at: datetime


class SiteCreate(Input):
    code: SiteCode
    name: Name
    address: Address = ""
    clear_limit_s: ClearLimit = 900


class SiteUpdate(Patch):
    _not_null = frozenset({"code", "name", "address", "clear_limit_s"})
    code: SiteCode | None = None
    name: Name | None = None
    address: Address | None = None
    clear_limit_s: ClearLimit | None = None


def _plausible_recording(value: datetime | None) -> datetime | None:
    if value is not None and not 2000 <= value.year <= 2999:
        raise ValueError("a recording's start is between the years 2000 and 2999")
    return value


RecordingStart = Annotated[AwareDatetime | None, AfterValidator(_plausible_recording), Field(
    None, description="a recorded file's first frame by the camera's clock, with its UTC offset "
    "(2026-12-02T08:30:00+08:00); null: the time in the file name (…_20261202T083000…), else the file's time")]


class CameraFields(Input):
    fps: float = Field(2.0, gt=0, le=60)
    imgsz: int | None = Field(None, ge=64, le=4096)
    timezone: TimeZoneName = "Asia/Shanghai"
    frame_width: int | None = Field(None, gt=0, le=16384)
    frame_height: int | None = Field(None, gt=0, le=16384)
    enabled: bool = True
    recording_start: RecordingStart = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)


class CameraCreate(CameraFields):
    id: CameraId
    site_id: RowId
    name: Name
    source_url: SourceUrl


class CameraUpdate(Patch):
    _not_null = frozenset({"site_id", "name", "source_url", "fps", "timezone", "enabled"})
    site_id: RowId | None = None
    name: Name | None = None
    source_url: SourceUrl | None = None
    fps: float | None = Field(None, gt=0, le=60)
    imgsz: int | None = Field(None, ge=64, le=4096)
    timezone: TimeZoneName | None = None
    frame_width: int | None = Field(None, gt=0, le=16384)
    frame_height: int | None = Field(None, gt=0, le=16384)
    enabled: bool | None = None
    recording_start: RecordingStart = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


class CameraOut(Output):
    id: str
    site_id: int
    name: str
    source_url: str = Field(description="with credentials for operators, redacted (***@) for everyone else")
    fps: float
    imgsz: int | None
    timezone: str
    frame_width: int | None
    frame_height: int | None
    enabled: bool
    recording_start: datetime | None = None
    created_at: datetime
    updated_at: datetime


class SourceProbe(Input):
    source_url: SourceUrl


class ProbeOut(BaseModel):
    width: int
    height: int
    image: str = Field(description="the frame as a data: URL (JPEG)")


class SnapshotOut(BaseModel):
    camera_id: str
    width: int = Field(description="the frame's real size, also stored as the camera's frame_width/height")
    height: int
    taken_at: datetime


class ZoneVersionOut(Output):
    camera_id: str
    version: int
    document: dict[str, Any]
    created_by: int | None
    created_at: datetime


# --- violations, evidence, reviews ---


class EvidenceOut(Output):
    name: str
    role: str
    media_type: str
    sha256: str
    bytes: int
    captured_at: datetime | None
    url: str


class ReviewOut(Output):
    id: int
    violation_id: str
    reviewer_id: int
    decision: Literal["confirmed", "rejected"]
    plate_text: str | None
    reason: str | None
    created_at: datetime


class ViolationOut(Output):
    id: str
    site_id: int | None = Field(description="the site the camera belonged to when it was recorded; null: the camera "
                                "was not registered")
    site_code: str | None
    site_name: str | None = None
    camera_id: str
    camera_name: str | None
    zone_id: str
    zone_name: str
    zone_kind: str
    object_class: str = Field(description="the detector's class; 'obstruction' when none named it")
    category: str = Field(description="vehicle, obstacle or obstruction (at rest, no class names it)")
    started_at: datetime
    violation_at: datetime
    ended_at: datetime | None
    last_seen_at: datetime | None
    duration_s: float
    box: list[float]
    clear_width_m: float | None = Field(description="calibrated lanes: the narrowest clear width left, metres")
    severity: str | None = Field(description="calibrated lanes: 'blocked' (under the zone's minimum) or 'narrowed'")
    evidence_dir: str
    manifest_sha256: str | None
    evidence_complete: bool = Field(description="false: some files could not be written (see evidence_problem)")
    evidence_problem: str | None
    source: str
    review_status: ReviewStatus
    plate_text: str | None = Field(description="the plate the police confirmed (the reading or their correction)")
    plate_read: str | None = Field(None, description="the plate reader's vote over the vehicle's frames; null: none "
                                   "read sure enough (kept beside plate_text when the police correct it)")
    plate_read_confidence: float | None = Field(None, description="0-1, its least sure character after the vote")
    plate_read_colour: str | None = Field(None, description="blue, yellow, green, white or black")
    created_at: datetime
    updated_at: datetime

    @field_validator("review_status", mode="before")
    @classmethod
    def _null_is_pending(cls, value: str | None) -> str:
        return value or "pending"


class QueuedViolationOut(ViolationOut):
    escalated: bool = Field(description="the lane was not cleared within the site's limit after the alert")
    escalated_at: datetime | None = Field(description="the deadline it was escalated at; null: not escalated")
    alert_id: int | None = Field(description="null: the camera is not registered to a site (no alert)")


class ViolationDetail(ViolationOut):
    evidence: list[EvidenceOut]
    review: ReviewOut | None
    integrity: list[str] = Field(description="what is wrong with the evidence on disk (altered, missing or linked "
                                 "files, a bad or missing signature); empty: intact and signed")
    integrity_zh: list[str] = Field(description="the same problems in Chinese, one for one (the English where a "
                                    "problem has no Chinese text)")
    sealed_later_at: datetime | None = Field(description=(
        "evidence recorded before the installation signed evidence, signed afterwards by `firelane seal` (事后补签): "
        "when; its files were checked against the manifest then, not when recorded. Null: signed when it was "
        "recorded, or not validly signed (see integrity)"))


class ReviewIn(Input):
    decision: Literal["confirmed", "rejected"]
    plate_text: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="required to confirm, e.g. 粤B12345")
    reason: Text | None = Field(None, max_length=2000, description="required to reject")

    @field_validator("plate_text")
    @classmethod
    def _plate(cls, value: str | None) -> str | None:
        if value is None:
            return None
        plate = re.sub(r"[\s·•.\-]", "", value).upper()
        if not plate:
            return None
        if not _PLATE.match(plate):
            raise ValueError("a plate is 5-12 Chinese characters, letters and digits, e.g. 粤B12345")
        return plate

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _grounds(self) -> ReviewIn:
        if self.decision == "confirmed" and not self.plate_text:
            raise ValueError("plate_text is required to confirm a violation")
        if self.decision == "rejected" and not self.reason:
            raise ValueError("reason is required to reject a violation")
        return self


# --- alerts and audit ---


class AlertOut(Output):
    id: int
    violation_id: str
    site_id: int
    camera_id: str
    zone_id: str
    status: AlertStatus
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    cleared_at: datetime | None
    cleared_by: int | None
    claimed_cleared_at: datetime | None = Field(
        None, description="staff said the lane is clear while the camera still saw the occupant (not yet confirmed)"
    )
    claimed_cleared_by: int | None = None
    escalated_at: datetime | None = Field(None, description="not cleared in the site's limit: sent to the police")
    due_at: datetime = Field(description="the lane has to be clear by then (alert + the site's clear limit when "
                                         "the alert was sent), else the violation goes to the police")


class AuditOut(Output):
    id: int
    at: datetime
    user_id: int | None
    action: str
    target: str
    details: dict[str, Any]


class Problems(BaseModel):
    problems: list[str]


class ProblemsResponse(BaseModel):
    detail: Problems


class Message(BaseModel):
    detail: str
