"""Logging in: bearer tokens for API clients, a session cookie for the web UI."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from service.api import security
from service.api.deps import CurrentUser, SessionDep, SettingsDep
from service.api.schemas import Token, UserOut
from service.db import audit, login_sessions
from service.db.models import LoginSession, User
from service.db.users import get_user_by_username
from service.settings import Settings

router = APIRouter(tags=["auth"])
USERNAME_MAX = User.username.type.length


LOCK_AFTER = 5  # wrong passwords in a row for one account ...
LOCK_S = 15 * 60  # ... lock it this long
ADDRESS_LIMIT = 30  # wrong passwords from one client address within LOCK_S, whatever the accounts


def _throttle(session: Session, user: User | None, account: str, client: str) -> None:
    """Refuse (429, with when to try again) while an account or a client address is locked out. Counted from the
    audit log, so every API process behind a load balancer sees the same counts."""
    now = datetime.now(timezone.utc)
    window = now - timedelta(seconds=LOCK_S)
    since = window
    if user is not None:  # a successful login starts the count afresh
        last_ok = audit.last_at(session, "auth.login", f"user:{user.id}")
        since = max(window, last_ok) if last_ok else window
    for target, limit, what in ((account, LOCK_AFTER, "this account"), (client, ADDRESS_LIMIT, "this address")):
        count, first = audit.failures_since(session, "auth.login_failed", target, since)
        if count >= limit and first is not None:
            retry = first + timedelta(seconds=LOCK_S)
            wait = max(1, int((retry - now).total_seconds()))
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many wrong passwords for {what}: locked for {wait // 60 + 1} more minutes",
                                headers={"Retry-After": str(wait)})


def _authenticate(session: Session, username: str, password: str, client: str) -> User:
    # A name no account can have (longer than the column, or with a NUL, which PostgreSQL refuses) is not looked up.
    possible = len(username) <= USERNAME_MAX and "\x00" not in username
    user = get_user_by_username(session, username) if possible else None
    shown = re.sub(r"[\x00-\x1f\x7f]", "?", username[:64])
    account, address = f"user:{shown}", f"client:{client}"
    _throttle(session, user, account, address)
    ok = security.verify_password(password, user.password_hash if user is not None else None)
    if user is None or not ok or not user.active:
        audit.record(session, None, "auth.login_failed", account, {"client": client})
        audit.record(session, None, "auth.login_failed", address, {"username": shown})
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    audit.record(session, user.id, "auth.login", f"user:{user.id}", {"client": client})
    session.commit()
    return user


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _same_origin(request: Request) -> bool:
    """A browser posting the login form from another site (login CSRF) sends that site as its Origin."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by API clients and some older browsers: the SameSite cookie still guards
        return True
    parsed = urlsplit(origin)
    return parsed.netloc == request.headers.get("host", "") and parsed.scheme in ("http", "https")


@router.post("/api/auth/token", response_model=Token, summary="Log in for a bearer token (OAuth2 password)")
def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    user = _authenticate(session, form.username, form.password, _client(request))
    login = _start_session(session, user, "bearer", request, settings)
    token = security.create_access_token(user.id, login.id, request.app.state.secret_key, settings.token_ttl_s)
    return Token(access_token=token, expires_in=settings.token_ttl_s)


@router.get("/api/auth/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _start_session(session: Session, user: User, via: str, request: Request, settings: Settings) -> LoginSession:
    login = login_sessions.start_session(session, user.id, via, _client(request), _utcnow(), settings.token_ttl_s)
    session.commit()
    return login


def _secure(request: Request, settings: Settings) -> bool:
    """Secure cookies over HTTPS: seen directly, or told by a trusted proxy (settings.trusted_proxies)."""
    return settings.cookie_secure or request.url.scheme == "https"


def _local_path(target: str | None) -> str | None:
    """Only same-site paths are followed after login/logout (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.post("/login", summary="Log in the web UI: sets a signed HttpOnly session cookie")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Form()] = None,  # noqa: A002 - the conventional name
) -> Response:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "login from another site refused")
    user = _authenticate(session, username, password, _client(request))
    login = _start_session(session, user, "cookie", request, settings)
    target = _local_path(next)
    response: Response = (
        RedirectResponse(target, status.HTTP_303_SEE_OTHER)
        if target
        else JSONResponse(UserOut.model_validate(user).model_dump(mode="json"))
    )
    response.set_cookie(
        security.SESSION_COOKIE,
        security.create_session_cookie(user.id, login.id, request.app.state.secret_key),
        max_age=settings.token_ttl_s,
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path="/",
    )
    return response


@router.post("/logout", summary="Log out: ends this session on the server and clears the session cookie")
def logout(request: Request, session: SessionDep, settings: SettingsDep,
           next: Annotated[str | None, Form()] = None) -> Response:  # noqa: A002
    """Ends the session the request comes with (its cookie, or its bearer token): a copy of that cookie or token
    stops working, while the user's other devices stay logged in."""
    secret = request.app.state.secret_key
    claims = None
    if (scheme_token := request.headers.get("authorization", "").partition(" "))[0].lower() == "bearer":
        claims = security.read_access_token(scheme_token[2].strip(), secret)
    elif cookie := request.cookies.get(security.SESSION_COOKIE):
        claims = security.read_session_cookie(cookie, secret, settings.token_ttl_s)
    if claims is not None:
        user_id, session_id = claims
        if login_sessions.is_live(session, session_id, user_id, _utcnow()):
            login_sessions.revoke(session, session_id, _utcnow())
            audit.record(session, user_id, "auth.logout", f"user:{user_id}", {})
            session.commit()
    target = _local_path(next)
    response: Response = (
        RedirectResponse(target, status.HTTP_303_SEE_OTHER) if target else JSONResponse({"detail": "logged out"})
    )
    response.delete_cookie(
        security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings)
    )
    return response
