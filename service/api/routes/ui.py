"""The web UI: server-rendered page shells (Jinja2) whose small scripts read and write the JSON API with
the session cookie. Every page but /login needs a login (else a redirect to /login) and a role allowed
to see it (else 403); the API each script calls applies the same scoping again."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from service.api.deps import SessionDep, get_current_user, oauth2_scheme
from service.api.routes.auth import _local_path
from service.db.models import User

HERE = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
DISPLAY_TIMEZONE = "Asia/Shanghai"  # times on the pages are Beijing time, whatever the browser's zone

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)
static_files = StaticFiles(directory=STATIC_DIR)

# Pages only load their own scripts, styles, images and clips; never framed (clickjacking the buttons).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    label: str  # Chinese first: the people using it read Chinese
    english: str
    roles: frozenset[str]
    group: str | None = None  # a menu of the top bar (NAV_GROUPS); None: a link of its own


# Every page of the UI, in the order of the top bar: the one place a page is declared (routes look theirs up).
ALL_ROLES = frozenset({"operator", "property", "police"})
PAGES = {
    p.name: p
    for p in (
        Page("dashboard", "/ui/dashboard", "概览", "Dashboard", ALL_ROLES),
        Page("review", "/ui/review", "违法审核", "Review", frozenset({"police", "operator"})),
        Page("alerts", "/ui/alerts", "告警处理", "Alerts", frozenset({"property", "operator"})),
        Page("hotspots", "/ui/hotspots", "热点分析", "Hotspots", ALL_ROLES, group="records"),
        Page("ledger", "/ui/ledger", "占用台账", "Ledger", ALL_ROLES, group="records"),
        Page("offenders", "/ui/offenders", "反复违停", "Repeat offenders", frozenset({"police", "operator"}),
             group="records"),
        Page("reports", "/ui/reports", "周报", "Reports", ALL_ROLES, group="records"),
        Page("sites", "/ui/sites", "小区", "Sites", frozenset({"operator"}), group="admin"),
        Page("cameras", "/ui/cameras", "摄像头", "Cameras", frozenset({"operator"}), group="admin"),
        Page("zones", "/ui/zones", "区域编辑", "Zones", frozenset({"operator"}), group="admin"),
        Page("users", "/ui/users", "用户", "Users", frozenset({"operator"}), group="admin"),
    )
}
# Menus keep the top bar one line high at 1024 px whatever the role (an operator has the most pages).
NAV_GROUPS = {"records": ("统计台账", "Records"), "admin": ("系统管理", "Admin")}


@dataclass(frozen=True)
class NavGroup:
    name: str
    label: str
    english: str
    pages: list[Page]


def navigation(user: User) -> list[Page | NavGroup]:
    """The top bar of ``user``: the pages their role may open, grouped pages as one menu where the first shows."""
    entries: list[Page | NavGroup] = []
    groups: dict[str, NavGroup] = {}
    for page in PAGES.values():
        if user.role not in page.roles:
            continue
        if page.group is None:
            entries.append(page)
        elif page.group in groups:
            groups[page.group].pages.append(page)
        else:
            label, english = NAV_GROUPS[page.group]
            groups[page.group] = NavGroup(page.group, label, english, [page])
            entries.append(groups[page.group])
    return entries


HOME = {"operator": "dashboard", "police": "review", "property": "alerts"}
ROLE_LABELS = {"operator": "运维人员", "property": "物业", "police": "交警"}


def _asset_version() -> str:
    try:
        return version("firelane")
    except PackageNotFoundError:
        return "dev"


ASSET_VERSION = _asset_version()


def page_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User | None:
    """The logged-in user, or None (the page then redirects to the login form)."""
    try:
        return get_current_user(request, session, token)
    except HTTPException:
        return None


PageUser = Annotated[User | None, Depends(page_user)]


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    context = {"asset_version": ASSET_VERSION, "role_labels": ROLE_LABELS, **context}
    return templates.TemplateResponse(request, template, context, status_code=status_code, headers=PAGE_HEADERS)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status.HTTP_303_SEE_OTHER)


def _show(request: Request, user: User | None, name: str, data: dict[str, Any] | None = None) -> Response:
    if user is None:
        return _login_redirect(request)
    page = PAGES[name]
    context = {"user": user, "nav": navigation(user), "page": page, "home_page": PAGES[HOME[user.role]]}
    if user.role not in page.roles:
        return _render(request, "forbidden.html", context, status.HTTP_403_FORBIDDEN)
    page_data = {
        "user": {"id": user.id, "username": user.username, "role": user.role, "site_id": user.site_id},
        "timezone": DISPLAY_TIMEZONE,
        **(data or {}),
    }
    return _render(request, f"{name}.html", {**context, "page_data": page_data})


@router.get("/static/{path:path}")
async def static(path: str, request: Request) -> Response:
    response = await static_files.get_response(path, request.scope)
    response.headers["Cache-Control"] = "no-cache"  # revalidated (ETag): a new release is seen at once
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/login")
def login_page(request: Request, user: PageUser, next: str | None = None) -> Response:  # noqa: A002
    target = _local_path(next) or "/ui"
    return _render(request, "login.html", {"user": user, "next": target, "nav": [], "page": None})


@router.get("/ui")
def home(request: Request, user: PageUser) -> Response:
    if user is None:
        return _login_redirect(request)
    return RedirectResponse(PAGES[HOME[user.role]].path, status.HTTP_303_SEE_OTHER)


@router.get("/ui/dashboard")
def dashboard(request: Request, user: PageUser) -> Response:
    return _show(request, user, "dashboard")


@router.get("/ui/zones")
def zone_editor(request: Request, user: PageUser) -> Response:
    return _show(request, user, "zones")


@router.get("/ui/review")
def review(request: Request, user: PageUser) -> Response:
    return _show(request, user, "review", {"can_decide": user is not None and user.role == "police"})


@router.get("/ui/alerts")
def alerts(request: Request, user: PageUser) -> Response:
    return _show(request, user, "alerts")


@router.get("/ui/sites")
def site_admin(request: Request, user: PageUser) -> Response:
    return _show(request, user, "sites")


@router.get("/ui/cameras")
def camera_admin(request: Request, user: PageUser) -> Response:
    return _show(request, user, "cameras")


@router.get("/ui/users")
def user_admin(request: Request, user: PageUser) -> Response:
    return _show(request, user, "users", {"roles": ROLE_LABELS})
