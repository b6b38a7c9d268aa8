"""Response bodies of the closed-loop endpoints: ledger, repeat offenders, hotspots, weekly reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.api.schemas import Input, RowId

LedgerStatus = Literal["open", "cleared_in_time", "cleared_late", "escalated", "confirmed", "rejected", "ended"]


class LedgerRowOut(BaseModel):
    violation_id: str
    camera_id: str
    camera_name: str | None
    zone_id: str
    zone_name: str
    object_class: str
    started_at: datetime
    violation_at: datetime = Field(description="detected: the grace time was passed")
    alerted_at: datetime | None
    acknowledged_at: datetime | None
    claimed_cleared_at: datetime | None = Field(description="staff said cleared while the camera still saw it")
    ended_at: datetime | None = Field(description="cleared: last seen before the camera saw the lane free")
    due_at: datetime | None = Field(description="alert + the site's clear limit")
    escalated_at: datetime | None
    status: LedgerStatus
    status_label: str
    review_status: Literal["pending", "confirmed", "rejected"]
    plate_text: str | None
    time_to_ack_s: float | None
    time_to_clear_s: float | None = Field(description="alert → the camera saw the lane clear")
    blocked_s: float = Field(description="start → end, or → now while still occupied")


class LedgerOut(BaseModel):
    site_id: int
    site_code: str
    site_name: str
    clear_limit_s: int
    since: datetime | None
    until: datetime | None
    now: datetime
    counts: dict[str, int]
    rows: list[LedgerRowOut]


class EvidenceLink(BaseModel):
    name: str
    role: str
    url: str


class OffenceOut(BaseModel):
    violation_id: str
    site_code: str | None
    site_name: str | None
    camera_id: str
    camera_name: str | None
    zone_id: str
    zone_name: str
    started_at: datetime
    violation_at: datetime
    ended_at: datetime | None
    detail_url: str
    evidence: list[EvidenceLink]


class OffenderOut(BaseModel):
    plate: str
    count: int
    first_at: datetime
    last_at: datetime
    violations: list[OffenceOut]


class SuggestedOffenceOut(OffenceOut):
    plate_read_confidence: float | None


class SuggestedOffenderOut(BaseModel):
    plate: str = Field(description="as the plate reader read it; nobody has confirmed these violations yet")
    count: int = Field(description="unreviewed violations read as this plate")
    confirmed_count: int = Field(description="violations the police already confirmed with this plate")
    first_at: datetime
    last_at: datetime
    violations: list[SuggestedOffenceOut]


class OffendersOut(BaseModel):
    min_count: int
    window_days: int
    since: datetime
    until: datetime
    offenders: list[OffenderOut]
    suggestions: list[SuggestedOffenderOut] = Field(
        description="apart from offenders: plates that machine readings of unreviewed violations would make "
                    "repeat offenders once confirmed")


class TallyOut(BaseModel):
    violations: int
    blocked_minutes: float
    rebounds: int = Field(description="violations that started within the rebound window after one in the zone ended")
    escalations: int


class SiteSpotOut(TallyOut):
    rank: int
    site_id: int | None
    site_code: str | None
    site_name: str | None


class CameraSpotOut(TallyOut):
    rank: int
    camera_id: str
    camera_name: str | None
    site_code: str | None
    site_name: str | None
    heatmap_url: str


class ZoneSpotOut(TallyOut):
    rank: int
    camera_id: str
    camera_name: str | None
    zone_id: str
    zone_name: str
    site_code: str | None
    site_name: str | None


class DayOut(BaseModel):
    day: date
    blocked_minutes: float


class HotspotsOut(BaseModel):
    since: datetime
    until: datetime
    now: datetime
    rebound_window_days: float
    total: TallyOut
    sites: list[SiteSpotOut]
    cameras: list[CameraSpotOut]
    zones: list[ZoneSpotOut]
    daily: list[DayOut]
    chart_url: str = Field(description="blocked minutes per day as PNG (…/blocked-minutes.svg for SVG)")


class WeeklyReportIn(Input):
    week: str | None = Field(None, max_length=16, description="YYYY-Www (ISO week); default: the current week")
    site_id: RowId | None = Field(None, description="one site only; default: every site and the district "
                                                    "(property staff: their site)")


class ReportFileOut(BaseModel):
    week: str
    name: str
    site_code: str | None = Field(description="null: the district report")
    format: Literal["html", "pdf"]
    bytes: int
    modified_at: datetime
    url: str


class WeeklyReportOut(BaseModel):
    week: str
    files: list[ReportFileOut]
    numbers: list[dict]


class ReportWeekOut(BaseModel):
    week: str
    files: list[ReportFileOut]
