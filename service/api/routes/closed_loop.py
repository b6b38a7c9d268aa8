"""Closing the loop: a site's ledger, repeat offenders, hotspots (ranking, heat maps, blocked minutes per day)
and the weekly reports. Property staff see their own site only (404 for any other); police and operators all.

Periods: ``since``/``until`` are ISO dates (whole days in the report time zone, ``until`` inclusive) or ISO
datetimes; without them a period is the ``days`` before now. A violation belongs to a period by its start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse

from service import charts
from service.api.closed_loop_schemas import (
    CameraSpotOut,
    DayOut,
    EvidenceLink,
    HotspotsOut,
    LedgerOut,
    LedgerRowOut,
    OffenceOut,
    OffenderOut,
    OffendersOut,
    ReportFileOut,
    ReportWeekOut,
    SiteSpotOut,
    SuggestedOffenceOut,
    SuggestedOffenderOut,
    TallyOut,
    WeeklyReportIn,
    WeeklyReportOut,
    ZoneSpotOut,
)
from service.api.deps import CurrentUser, ReviewReader, SessionDep, SettingsDep, StrictJSONRoute, site_scope
from service.api.schemas import CameraIdPath, IdPath, IdQuery
from service.api.routes.live import snapshot_path
from service.db import audit, cameras, sites, zones
from service.db.errors import InvalidError, NotFoundError
from service.db.insights import (
    Hotspots,
    camera_boxes,
    camera_has_violations,
    evidence_links,
    hotspots,
    ledger,
    offenders,
    suggested_offenders,
)
from service.db.models import Site, User
from service.heatmap import heatmap_png
from service.reports.ledger import ledger_csv, ledger_pdf
from service.reports.offenders import offenders_csv, offenders_pdf
from service.reports.week import Week
from service.reports.store import REPORT_NAME, WEEK_NAME, ReportMissing, ReportStore, report_store
from service.reports.weekly import generate_weekly
from service.settings import Settings

router = APIRouter(tags=["closed loop"], route_class=StrictJSONRoute)
MAX_DAYS = 400
# Dates outside these years are typos; inside them no period or week arithmetic can leave datetime's range.
FIRST_YEAR, LAST_YEAR = 1970, 2999
REPORT_HEADERS = {  # a report is a static document: no scripts, images inline only
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
Since = Annotated[str | None, Query(max_length=40, description="ISO date (whole day, report time zone) or datetime")]
Until = Annotated[str | None, Query(max_length=40, description="ISO date (inclusive) or datetime; default now")]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="period length when since is not given")]


def report_tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.report_timezone)


def _bound(text: str, tz: ZoneInfo, what: str, *, end: bool) -> datetime:
    try:
        value: date = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise InvalidError(f"{what}: {text!r} is not an ISO date (2026-11-02) or datetime") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidError(f"{what}: {text!r} is not between {FIRST_YEAR} and {LAST_YEAR}")
    if not isinstance(value, datetime):
        return datetime.combine(value + timedelta(days=1) if end else value, time(), tzinfo=tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def period(since: str | None, until: str | None, days: int, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    end = _bound(until, tz, "until", end=True) if until else now
    start = _bound(since, tz, "since", end=False) if since else end - timedelta(days=days)
    if start >= end:
        raise InvalidError("since: must be before until")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidError(f"until: a period is at most {MAX_DAYS} days")
    return start, end


def _visible_site(session: SessionDep, user: User, site_id: int | None) -> int | None:
    """The site a request is about: property staff only ever their own (another one is 404)."""
    scope = site_scope(user)
    if site_id is not None:
        return sites.get_site(session, site_id, only_site_id=scope).id
    return scope


def _utcnow() -> datetime:
    """The API's clock (tests set it to a fixed moment)."""
    return datetime.now(timezone.utc)


# --- the ledger ---


@router.get(
    "/api/sites/{site_id}/ledger",
    response_model=LedgerOut,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}}}},
    summary="Every occupation of a site with its status and response times (JSON, CSV or PDF)",
)
def site_ledger(
    site_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    since: Since = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO date (inclusive) or datetime")] = None,
    format: Literal["json", "csv", "pdf"] = "json",  # noqa: A002 - the query parameter's name
) -> Response | LedgerOut:
    """Occupations (violations) of the site's cameras that started in the period, oldest first: detected →
    alerted → acknowledged → cleared (the camera saw the lane free) or escalated → confirmed / rejected.
    Without ``since``/``until`` the whole history."""
    site = sites.get_site(session, site_id, only_site_id=site_scope(user))
    tz, now = report_tz(settings), _utcnow()
    start = _bound(since, tz, "since", end=False) if since else None
    end = _bound(until, tz, "until", end=True) if until else None
    if start is not None and end is not None and start >= end:
        raise InvalidError("since: must be before until")
    rows = ledger(session, site.id, since=start, until=end, now=now)
    if format == "json":
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state.status] = counts.get(row.state.status, 0) + 1
        return LedgerOut(
            site_id=site.id, site_code=site.code, site_name=site.name, clear_limit_s=site.clear_limit_s,
            since=start, until=end, now=now, counts=counts, rows=[_ledger_row(r) for r in rows],
        )
    audit.record(session, user.id, "ledger.export", f"site:{site.id}", {
        "format": format, "since": start.isoformat() if start else None, "until": end.isoformat() if end else None})
    session.commit()
    stem = f"ledger-{site.code}" + (f"-{start.astimezone(tz):%Y%m%d}" if start else "") + (
        f"-{(end - timedelta(seconds=1)).astimezone(tz):%Y%m%d}" if end else "")
    if format == "csv":
        body, media = ledger_csv(rows, tz), "text/csv; charset=utf-8"
    else:
        body, media = ledger_pdf(site, rows, since=start, until=end, now=now, tz=tz, font_path=settings.font), \
            "application/pdf"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stem)}.{format}"})


def _ledger_row(row) -> LedgerRowOut:  # noqa: ANN001 - a LedgerRow
    v, a, s = row.violation, row.fact.alert, row.state
    return LedgerRowOut(
        violation_id=v.id, camera_id=v.camera_id, camera_name=v.camera_name, zone_id=v.zone_id,
        zone_name=v.zone_name, object_class=v.object_class, started_at=v.started_at, violation_at=v.violation_at,
        alerted_at=a.created_at if a else None, acknowledged_at=a.acknowledged_at if a else None,
        claimed_cleared_at=a.claimed_cleared_at if a else None, ended_at=v.ended_at, due_at=s.due_at,
        escalated_at=a.escalated_at if a else None, status=s.status, status_label=row.status_label,
        review_status=v.review_status or "pending", plate_text=v.plate_text, time_to_ack_s=s.time_to_ack_s,
        time_to_clear_s=s.time_to_clear_s, blocked_s=s.blocked_s,
    )


# --- repeat offenders ---


@router.get(
    "/api/offenders",
    response_model=OffendersOut,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}}}},
    summary="Plates with repeated confirmed violations (JSON, CSV or PDF)",
)
def repeat_offenders(
    session: SessionDep,
    settings: SettingsDep,
    user: ReviewReader,
    min_count: Annotated[int | None, Query(ge=1, le=1000, description="default: repeat_offender_min")] = None,
    window_days: Annotated[int | None, Query(ge=1, le=3650, description="default: repeat_offender_window_days")] = None,
    until: Until = None,
    site_id: IdQuery = None,
    format: Literal["json", "csv", "pdf"] = "json",  # noqa: A002 - the query parameter's name
) -> Response | OffendersOut:
    """Plates with at least ``min_count`` police-confirmed violations that started in the ``window_days``
    before ``until``, most first, each with its violations and evidence links; apart from them, as
    ``suggestions``, plates the reader read on unreviewed violations that would reach ``min_count`` once
    confirmed. Police and operators only."""
    tz = report_tz(settings)
    end = _bound(until, tz, "until", end=True) if until else _utcnow()
    n = min_count or settings.repeat_offender_min
    days = window_days or settings.repeat_offender_window_days
    if site_id is not None:
        sites.get_site(session, site_id)
    found = offenders(session, until=end, window_days=days, min_count=n, site_id=site_id)
    since = end - timedelta(days=days)
    if format != "json":
        audit.record(session, user.id, "offenders.export", "offenders", {
            "format": format, "until": end.isoformat(), "window_days": days, "min_count": n, "site_id": site_id})
        session.commit()
        if format == "csv":
            body, media = offenders_csv(found, tz), "text/csv; charset=utf-8"
        else:
            body, media = offenders_pdf(found, since=since, until=end, min_count=n, now=_utcnow(), tz=tz,
                                        font_path=settings.font), "application/pdf"
        stem = f"repeat-offenders-{(end - timedelta(seconds=1)).astimezone(tz):%Y%m%d}"
        return Response(body, media_type=media, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stem)}.{format}"})
    suggested = suggested_offenders(session, until=end, window_days=days, min_count=n, site_id=site_id)
    return OffendersOut(min_count=n, window_days=days, since=since, until=end, offenders=[
        OffenderOut(
            plate=o.plate, count=o.count, first_at=o.items[0].violation.started_at,
            last_at=o.items[-1].violation.started_at, violations=[OffenceOut(**_offence(f)) for f in o.items],
        )
        for o in found
    ], suggestions=[
        SuggestedOffenderOut(
            plate=o.plate, count=o.count, confirmed_count=confirmed, first_at=o.items[0].violation.started_at,
            last_at=o.items[-1].violation.started_at,
            violations=[SuggestedOffenceOut(**_offence(f), plate_read_confidence=f.violation.plate_read_confidence)
                        for f in o.items],
        )
        for o, confirmed in suggested
    ])


def _offence(f) -> dict:  # noqa: ANN001 - a Fact
    v = f.violation
    return dict(violation_id=v.id, site_code=f.site_code, site_name=f.site_name, camera_id=v.camera_id,
                camera_name=v.camera_name, zone_id=v.zone_id, zone_name=v.zone_name, started_at=v.started_at,
                violation_at=v.violation_at,
                ended_at=v.ended_at, detail_url=f"/api/violations/{quote(v.id, safe='')}",
                evidence=[EvidenceLink(**link) for link in evidence_links(f)])


# --- hotspots ---


def _hotspots(session: SessionDep, settings: Settings, user: User, since: str | None, until: str | None, days: int,
              site_id: int | None) -> Hotspots:
    tz, now = report_tz(settings), _utcnow()
    start, end = period(since, until, days, tz, now)
    scope = _visible_site(session, user, site_id)
    return hotspots(session, since=start, until=end, now=now, tz=tz,
                    rebound_window=timedelta(days=settings.rebound_window_days), site_id=scope)


def _query(since: str | None, until: str | None, days: int, site_id: int | None) -> str:
    params = [("since", since), ("until", until), ("days", str(days) if not since else None),
              ("site_id", str(site_id) if site_id is not None else None)]
    text = "&".join(f"{k}={quote(v)}" for k, v in params if v)
    return f"?{text}" if text else ""


def _tally(t) -> dict:  # noqa: ANN001 - a Tally
    return {"violations": t.violations, "blocked_minutes": round(t.blocked_minutes, 2), "rebounds": t.rebounds,
            "escalations": t.escalations}


@router.get("/api/hotspots", response_model=HotspotsOut, summary="Sites, cameras and zones ranked")
def get_hotspots(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    days: Days = 30,
    site_id: IdQuery = None,
) -> HotspotsOut:
    """Ranked by violations (that started in the period), then blocked minutes (start → end, or → now), with
    rebounds: violations that started within ``rebound_window_days`` after one in the same zone ended."""
    spots = _hotspots(session, settings, user, since, until, days, site_id)
    window = f"since={quote(spots.since.isoformat())}&until={quote(spots.until.isoformat())}"
    return HotspotsOut(
        since=spots.since, until=spots.until, now=spots.now, rebound_window_days=settings.rebound_window_days,
        total=TallyOut(**_tally(spots.total)),
        sites=[SiteSpotOut(rank=i, site_id=k.site_id, site_code=k.site_code, site_name=k.site_name, **_tally(t))
               for i, (k, t) in enumerate(spots.sites, 1)],
        cameras=[CameraSpotOut(rank=i, camera_id=k.camera_id, camera_name=k.camera_name, site_code=k.site_code,
                               site_name=k.site_name,
                               heatmap_url=f"/api/cameras/{quote(k.camera_id, safe='')}/heatmap.png?{window}",
                               **_tally(t))
                 for i, (k, t) in enumerate(spots.cameras, 1)],
        zones=[ZoneSpotOut(rank=i, camera_id=k.camera_id, camera_name=k.camera_name, zone_id=k.zone_id,
                           zone_name=k.zone_name, site_code=k.site_code, site_name=k.site_name,
                           **_tally(t))
               for i, (k, t) in enumerate(spots.zones, 1)],
        daily=[DayOut(day=d, blocked_minutes=round(m, 2)) for d, m in spots.daily],
        chart_url=f"/api/hotspots/blocked-minutes.png?{window}"
                  + (f"&site_id={site_id}" if site_id is not None else ""),
    )


@router.get(
    "/api/hotspots/blocked-minutes.{fmt}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    summary="Chart of blocked minutes per day (PNG or SVG)",
)
def blocked_minutes_chart(
    fmt: Literal["png", "svg"],
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    days: Days = 30,
    site_id: IdQuery = None,
) -> Response:
    spots = _hotspots(session, settings, user, since, until, days, site_id)
    scope = _visible_site(session, user, site_id)
    name = session.get(Site, scope).name if scope is not None else "全辖区"
    data = charts.blocked_minutes_chart(spots.daily, title=f"{name} 每日占用时长（分钟）", fmt=fmt,
                                        font_path=settings.font)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(data, media_type=media, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get(
    "/api/cameras/{camera_id}/heatmap.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    tags=["cameras"],
    summary="Where occupants stood: violation footprints over the camera's snapshot",
)
def camera_heatmap(
    camera_id: CameraIdPath,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    days: Days = 30,
) -> Response:
    """The bottom 30 % band of every violation's box in the period, accumulated and coloured, over the
    camera's latest snapshot (``<out_dir>/snapshots/<camera>.jpg``) or a grey canvas of its zone file's
    frame size, with the zones outlined."""
    start, end = period(since, until, days, report_tz(settings), _utcnow())
    try:
        camera = cameras.get_camera(session, camera_id, only_site_id=site_scope(user))
    except NotFoundError:
        # A camera that is not registered (police and operators see its violations): a plain canvas.
        if site_scope(user) is not None or not camera_has_violations(session, camera_id):
            raise
        camera = None
    boxes = camera_boxes(session, camera_id, since=start, until=end)
    current = zones.current_zones(session, camera.id) if camera is not None else None
    document = current.document if current is not None else {}
    zone_size = _size(document.get("frame_size"))
    camera_size = _size([camera.frame_width, camera.frame_height]) if camera is not None else None
    relative = document.get("units") == "relative"
    polygons = [z.get("polygon", []) for z in document.get("zones", []) if isinstance(z, dict)]
    snapshot = snapshot_path(settings.out_dir, camera.id) if camera is not None else None
    data = heatmap_png(
        boxes, snapshot=snapshot, canvas_size=zone_size or camera_size,
        box_size=None if snapshot else (camera_size or zone_size),
        polygons=polygons, polygon_size=(1, 1) if relative else zone_size,
    )
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _size(value: object) -> tuple[int, int] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return None


# --- weekly reports ---


def _readable(store: ReportStore, week: str, user: User) -> Callable[[str], bool]:
    """Which of the week's reports ``user`` may read: property staff those about their own site, told by the site id
    recorded when it was written (one look at the owners for a whole listing)."""
    scope = site_scope(user)
    if scope is None:
        return lambda name: True
    owners = store.owners(week)
    return lambda name: owners.get(name, -1) == scope


def _report_files(store: ReportStore, week: str, user: User) -> list[ReportFileOut]:
    readable = _readable(store, week, user)
    out = []
    for stored in store.reports(week):
        match = REPORT_NAME.fullmatch(stored.name)
        if not match or not readable(stored.name):
            continue
        out.append(ReportFileOut(
            week=week, name=stored.name, site_code=match[1][5:] if match[1] != "district" else None,
            format=match[2], bytes=stored.size, modified_at=stored.modified_at,
            url=f"/api/reports/{week}/{quote(stored.name)}",
        ))
    return sorted(out, key=lambda f: (f.site_code is not None, f.site_code or "", f.format))


@router.post("/api/reports/weekly", response_model=WeeklyReportOut, status_code=status.HTTP_201_CREATED,
             tags=["reports"], summary="Generate the weekly report (HTML and PDF) now")
def generate_report(body: WeeklyReportIn, session: SessionDep, settings: SettingsDep, user: CurrentUser
                    ) -> WeeklyReportOut:
    """Writes ``<week>/`` of the installation's reports (``<out_dir>/reports``, or ``_reports/`` beside the
    evidence in object storage): for one site (property staff: always theirs), or for the district and every site.
    Returns the files with their URLs and the headline numbers."""
    tz = report_tz(settings)
    try:
        week = Week.parse(body.week) if body.week else Week.of(_utcnow(), tz)
    except ValueError as error:
        raise InvalidError(f"week: {error}") from None
    if not FIRST_YEAR <= week.year <= LAST_YEAR:
        raise InvalidError(f"week: {week} is not between {FIRST_YEAR} and {LAST_YEAR}")
    site_id = _visible_site(session, user, body.site_id)
    codes = [sites.get_site(session, site_id).code] if site_id is not None else None
    store = report_store(settings)
    written = generate_weekly(session, settings, week, store, site_codes=codes, district=site_id is None,
                              now=_utcnow())
    audit.record(session, user.id, "report.generate", f"report:{week}", {"sites": codes or "all"})
    session.commit()
    names = {f.name for f in written}
    files = [f for f in _report_files(store, str(week), user) if f.name in names]
    numbers = [f.numbers for f in written if f.format == "pdf"]
    return WeeklyReportOut(week=str(week), files=files, numbers=numbers)


@router.get("/api/reports", response_model=list[ReportWeekOut], tags=["reports"],
            summary="Weekly reports written so far, newest week first")
def list_reports(settings: SettingsDep, user: CurrentUser) -> list[ReportWeekOut]:
    store = report_store(settings)
    out = [ReportWeekOut(week=w, files=_report_files(store, w, user)) for w in store.weeks()]
    return [w for w in out if w.files]


@router.get("/api/reports/{week}/{name}", response_class=FileResponse, tags=["reports"],
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def get_report(week: str, name: str, settings: SettingsDep, user: CurrentUser) -> Response:
    """From the installation's reports, whichever process wrote them; the same 404 for a name that is not a
    report's, a report that is not there (or is a link) and another site's report."""
    store = report_store(settings)
    match = REPORT_NAME.fullmatch(name)
    missing = NotFoundError(f"no report {week}/{name}")
    if not match or not WEEK_NAME.fullmatch(week) or not _readable(store, week, user)(name):
        raise missing
    try:
        content = store.file(week, name)
    except ReportMissing:
        raise missing from None
    media = "text/html; charset=utf-8" if match[2] == "html" else "application/pdf"
    if isinstance(content, Path):
        return FileResponse(content, media_type=media, headers=REPORT_HEADERS, filename=name,
                            content_disposition_type="inline")
    return Response(content, media_type=media,
                    headers={**REPORT_HEADERS, "Content-Disposition": f'inline; filename="{name}"'})
