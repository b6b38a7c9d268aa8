"""Dependencies: the database session, settings, the current user and role checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from service.api import security
from service.db.models import User
from service.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; routes commit what they change, anything else is rolled back."""
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str = "not logged in") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _same_origin(request: Request) -> bool:
    """Cookie-authenticated writes must come from our own pages (SameSite=Lax is the first guard)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # non-browser clients send neither
    return urlsplit(origin).netloc == request.headers.get("host", "")


def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The user of a bearer token, else of the session cookie; 401 when neither is valid."""
    secret: str = request.app.state.secret_key
    settings: Settings = request.app.state.settings
    if token:
        claims = security.read_access_token(token, secret)
        via = "bearer"
    elif cookie := request.cookies.get(security.SESSION_COOKIE):
        claims = security.read_session_cookie(cookie, secret, settings.token_ttl_s)
        via = "cookie"
    else:
        raise _unauthorized()
    if claims is None:
        raise _unauthorized("invalid or expired credentials")
    user_id, fingerprint = claims
    user = session.get(User, user_id)
    if user is None or not user.active or fingerprint != security.password_fingerprint(user.password_hash):
        raise _unauthorized("invalid or expired credentials")
    if via == "cookie" and request.method not in SAFE_METHODS and not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: str):  # noqa: ANN201 - a dependency
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user.role} users may not do this")
        return user

    return check


OperatorUser = Annotated[User, Depends(require_roles("operator"))]
PoliceUser = Annotated[User, Depends(require_roles("police"))]
ReviewReader = Annotated[User, Depends(require_roles("operator", "police"))]
AlertUser = Annotated[User, Depends(require_roles("operator", "property"))]


def site_scope(user: User) -> int | None:
    """The only site a user may see (property staff), or None for every site."""
    return user.site_id if user.role == "property" else None
