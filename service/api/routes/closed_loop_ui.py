"""The closed-loop pages of the web UI: hotspots (ranking, heat maps, blocked minutes per day) and the weekly
reports (generate, download). Page shells like the others (``service.api.routes.ui``): their scripts read the
JSON API with the session cookie, which scopes property staff to their site again."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from service.api.routes import closed_loop, ui
from service.db.models import User
from service.reports.week import Week

router = APIRouter(include_in_schema=False)

CLOSED_LOOP_PAGES = {
    p.name: p
    for p in (
        ui.Page("hotspots", "/ui/hotspots", "热点分析", "Hotspots", frozenset({"operator", "property", "police"})),
        ui.Page("reports", "/ui/reports", "周报", "Reports", frozenset({"operator", "property", "police"})),
    )
}


def closed_loop_nav(user: User | None) -> list[ui.Page]:
    """The closed-loop pages ``user`` may open, for the navigation bar of every page (base.html)."""
    if user is None:
        return []
    return [p for p in CLOSED_LOOP_PAGES.values() if user.role in p.roles]


# base.html adds these to the navigation of every page, whoever renders it.
ui.templates.env.globals["closed_loop_nav"] = closed_loop_nav


def _show(request: Request, user: User | None, name: str, data: dict[str, Any]) -> Response:
    if user is None:
        return ui._login_redirect(request)
    page = CLOSED_LOOP_PAGES[name]
    nav = [p for p in ui.PAGES.values() if user.role in p.roles]
    context = {"user": user, "nav": nav, "page": page}
    if user.role not in page.roles:
        return ui._render(request, "forbidden.html", context, status.HTTP_403_FORBIDDEN)
    page_data = {
        "user": {"id": user.id, "username": user.username, "role": user.role, "site_id": user.site_id},
        "timezone": ui.DISPLAY_TIMEZONE,
        **data,
    }
    return ui._render(request, f"{name}.html", {**context, "page_data": page_data})


@router.get("/ui/hotspots")
def hotspots_page(request: Request, user: ui.PageUser) -> Response:
    return _show(request, user, "hotspots", {})


@router.get("/ui/reports")
def reports_page(request: Request, user: ui.PageUser) -> Response:
    settings = request.app.state.settings
    current = Week.of(closed_loop._utcnow(), ZoneInfo(settings.report_timezone))
    return _show(request, user, "reports", {
        "current_week": str(current),
        "last_week": str(current.previous()),
        "district": user is not None and user.role != "property",
        "schedule": {"weekday": settings.report_weekday, "time": settings.report_time,
                     "timezone": settings.report_timezone, "enabled": settings.reports_enabled},
    })
