"""Logging in: bearer tokens for API clients, a session cookie for the web UI."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from service.api import security
from service.api.deps import CurrentUser, SessionDep, SettingsDep
from service.api.schemas import Token, UserOut
from service.db import audit
from service.db.models import User
from service.db.users import get_user_by_username

router = APIRouter(tags=["auth"])
USERNAME_MAX = User.username.type.length


def _authenticate(session: Session, username: str, password: str) -> User:
    # A name no account can have (longer than the column, or with a NUL, which PostgreSQL refuses) is not looked up.
    possible = len(username) <= USERNAME_MAX and "\x00" not in username
    user = get_user_by_username(session, username) if possible else None
    ok = security.verify_password(password, user.password_hash if user is not None else None)
    if user is None or not ok or not user.active:
        shown = re.sub(r"[\x00-\x1f\x7f]", "?", username[:64])
        audit.record(session, None, "auth.login_failed", f"user:{shown}", {})
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    audit.record(session, user.id, "auth.login", f"user:{user.id}", {})
    session.commit()
    return user


@router.post("/api/auth/token", response_model=Token, summary="Log in for a bearer token (OAuth2 password)")
def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    user = _authenticate(session, form.username, form.password)
    secret = request.app.state.secret_key
    token = security.create_access_token(user.id, user.password_hash, secret, settings.token_ttl_s)
    return Token(access_token=token, expires_in=settings.token_ttl_s)


@router.get("/api/auth/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


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
    user = _authenticate(session, username, password)
    target = _local_path(next)
    response: Response = (
        RedirectResponse(target, status.HTTP_303_SEE_OTHER)
        if target
        else JSONResponse(UserOut.model_validate(user).model_dump(mode="json"))
    )
    response.set_cookie(
        security.SESSION_COOKIE,
        security.create_session_cookie(user.id, user.password_hash, request.app.state.secret_key),
        max_age=settings.token_ttl_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout", summary="Log out the web UI: clears the session cookie")
def logout(settings: SettingsDep, next: Annotated[str | None, Form()] = None) -> Response:  # noqa: A002
    target = _local_path(next)
    response: Response = (
        RedirectResponse(target, status.HTTP_303_SEE_OTHER) if target else JSONResponse({"detail": "logged out"})
    )
    response.delete_cookie(
        security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure
    )
    return response
