"""What the dashboard and the alert board read: counts, zone occupancy over time, alerts with their violation."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query

from service.api.deps import AlertUser, CurrentUser, SessionDep, site_scope
from service.api.schemas import AlertOut, AlertStatus, Limit, RowId
from service.api.ui_schemas import BoardAlertOut, SiteCountsOut, TimelineLane, TimelineOut, TimelineSpan
from service.db import stats
from service.db.models import ALERT_STATUSES

router = APIRouter(tags=["overview"])
STILL_PREFERENCE = ("grace", "begin", "latest", "last")


@router.get("/api/stats/counts", response_model=list[SiteCountsOut])
def violation_counts(session: SessionDep, user: CurrentUser) -> list[stats.SiteCounts]:
    """Per site and per camera: violations still going on, waiting for review, and all recorded.

    Every site the user may see is listed, zeros included; violations of unregistered cameras come last
    (operators and police only)."""
    return stats.violation_counts(session, only_site_id=site_scope(user))


def _timeline_out(timeline: stats.Timeline, now: datetime) -> TimelineOut:
    lanes: dict[tuple[str, str], TimelineLane] = {}
    for row in timeline.violations:
        v = row.violation
        lane = lanes.get((v.camera_id, v.zone_id))
        if lane is None:
            lane = lanes[(v.camera_id, v.zone_id)] = TimelineLane(
                site_code=row.site_code, site_name=row.site_name, camera_id=v.camera_id, camera_name=v.camera_name, zone_id=v.zone_id,
                zone_name=v.zone_name, zone_kind=v.zone_kind, spans=[],
            )
        lane.spans.append(TimelineSpan(
            violation_id=v.id, object_class=v.object_class, started_at=v.started_at, violation_at=v.violation_at,
            ended_at=v.ended_at, review_status=v.review_status or "pending",
        ))
    ordered = sorted(lanes.values(), key=lambda lane: (lane.site_code or "~", lane.camera_id, lane.zone_id))
    return TimelineOut(since=timeline.since, until=timeline.until, now=now, fitted=timeline.fitted, lanes=ordered)


@router.get("/api/stats/timeline", response_model=TimelineOut)
def occupancy_timeline(
    session: SessionDep,
    user: CurrentUser,
    hours: Annotated[float, Query(gt=0, le=24 * 31, allow_inf_nan=False, description="the window ending now")] = 24,
) -> TimelineOut:
    """Per camera zone, the violations overlapping the last ``hours`` (start, violation, end; open ones
    run on). With none in that window, the newest violations and the range they span (``fitted``)."""
    now = datetime.now(timezone.utc)
    timeline = stats.occupancy_timeline(session, now=now, hours=hours, only_site_id=site_scope(user))
    return _timeline_out(timeline, now)


def _board_out(item: stats.BoardAlert) -> BoardAlertOut:
    v = item.violation
    still = None
    for role in STILL_PREFERENCE:
        still = next((f for f in v.evidence if f.role == role), None)
        if still is not None:
            break
    url = f"/api/violations/{quote(v.id, safe='')}/evidence/{quote(still.name, safe='')}" if still else None
    return BoardAlertOut(
        **AlertOut.model_validate(item.alert).model_dump(),
        site_code=item.site_code, site_name=item.site_name, camera_name=item.camera_name or v.camera_name,
        zone_name=v.zone_name, zone_kind=v.zone_kind, object_class=v.object_class, started_at=v.started_at,
        violation_at=v.violation_at, ended_at=v.ended_at, duration_s=v.duration_s, still_url=url,
        still_captured_at=still.captured_at if still else None,
        claim_unconfirmed=item.alert.claimed_cleared_at is not None and v.ended_at is None,
    )


@router.get("/api/board/alerts", response_model=list[BoardAlertOut], tags=["alerts"])
def alert_board(
    session: SessionDep,
    user: AlertUser,
    status: Annotated[list[AlertStatus] | None,
                      Query(max_length=len(ALERT_STATUSES), description="default: open and acknowledged")] = None,
    alert_id: Annotated[list[RowId] | None,
                        Query(alias="id", max_length=1000, description="only these alerts, in any status")] = None,
    limit: Limit = 200,
) -> list[BoardAlertOut]:
    """Alerts of the user's site (operators: every site), newest first, each with its camera, zone,
    times, the still to recognise the vehicle by, and the deadline to clear the lane by."""
    statuses = tuple(status) if status else ("open", "acknowledged")
    ids = tuple(alert_id) if alert_id else None
    items = stats.alert_board(session, only_site_id=site_scope(user), statuses=statuses, alert_ids=ids, limit=limit)
    return [_board_out(item) for item in items]
