"""Dependencies: the database session, settings, the current user and role checks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from service.api import security
from service.db import login_sessions
from service.db.models import User
from service.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def _finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


class StrictJSONRequest(Request):
    """A body parsed as RFC 8259 JSON. Python's parser also takes NaN, Infinity and 1e999, which would reach
    validation as floats, and a 422 quoting them back cannot be written as JSON (a 500); it raises a plain
    ValueError for an integer of more than 4300 digits (a 500 too). All of them are invalid JSON here (422)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_float=_finite_number, parse_constant=_not_a_number)
            except json.JSONDecodeError:
                raise
            except ValueError as error:
                raise json.JSONDecodeError(str(error), body.decode("utf-8", "replace"), 0) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of every router that reads a JSON body (``StrictJSONRequest``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return strict


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
    user_id, session_id = claims
    user = session.get(User, user_id)
    if user is None or not user.active or not login_sessions.is_live(session, session_id, user_id, datetime.now(timezone.utc)):
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
