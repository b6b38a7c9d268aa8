"""The closed-loop pages of the web UI: hotspots (ranking, heat maps, blocked minutes per day), the site ledger,
repeat offenders and the weekly reports. Page shells like the others (``service.api.routes.ui``, where every page
is declared): their scripts read the JSON API with the session cookie, which scopes property staff to their site
again."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.routes import closed_loop, ui
from service.closed_loop import LEDGER_STATUSES, STATUS_LABELS
from service.reports.week import Week

router = APIRouter(include_in_schema=False)


@router.get("/ui/hotspots")
def hotspots_page(request: Request, user: ui.PageUser) -> Response:
    return ui._show(request, user, "hotspots")


@router.get("/ui/ledger")
def ledger_page(request: Request, user: ui.PageUser) -> Response:
    settings = request.app.state.settings
    return ui._show(request, user, "ledger", {
        "report_timezone": settings.report_timezone,
        "statuses": {status: STATUS_LABELS[status] for status in LEDGER_STATUSES},
    })


@router.get("/ui/offenders")
def offenders_page(request: Request, user: ui.PageUser) -> Response:
    settings = request.app.state.settings
    return ui._show(request, user, "offenders", {
        "min_count": settings.repeat_offender_min, "window_days": settings.repeat_offender_window_days})


@router.get("/ui/reports")
def reports_page(request: Request, user: ui.PageUser) -> Response:
    settings = request.app.state.settings
    current = Week.of(closed_loop._utcnow(), ZoneInfo(settings.report_timezone))
    return ui._show(request, user, "reports", {
        "current_week": str(current),
        "last_week": str(current.previous()),
        "district": user is not None and user.role != "property",
        "schedule": {"weekday": settings.report_weekday, "time": settings.report_time,
                     "timezone": settings.report_timezone, "enabled": settings.reports_enabled},
    })
