"""Users and roles. Passwords arrive hashed: hashing is the API's business (service.api.security)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.errors import ConflictError, InvalidError, NotFoundError
from service.db.login_sessions import revoke_all
from service.db.models import ROLES, User
from service.db.sites import require_site


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def _check_role_site(session: Session, role: str, site_id: int | None) -> None:
    if role not in ROLES:
        raise InvalidError(f"role: must be one of {', '.join(ROLES)}")
    if role == "property":
        if site_id is None:
            raise InvalidError("site_id: property users belong to one site; give its site_id")
        require_site(session, site_id)
    elif site_id is not None:
        raise InvalidError(f"site_id: only property users belong to a site, not {role} users")


def create_user(
    session: Session, *, username: str, password_hash: str, role: str, site_id: int | None = None, active: bool = True
) -> User:
    if get_user_by_username(session, username) is not None:
        raise ConflictError(f"a user named {username!r} exists")
    _check_role_site(session, role, site_id)
    user = User(username=username, password_hash=password_hash, role=role, site_id=site_id, active=active)
    session.add(user)
    session.flush()
    return user


def _active_operators(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.role == "operator", User.active.is_(True))
    return session.scalar(query) or 0


def update_user(session: Session, user: User, changes: Mapping[str, Any]) -> User:
    """Apply ``changes`` (role, site_id, active, password_hash); the last active operator stays one."""
    role = changes.get("role", user.role)
    site_id = changes["site_id"] if "site_id" in changes else user.site_id
    if role != "property" and "role" in changes and "site_id" not in changes:
        site_id = None  # leaving the property role leaves the site
    _check_role_site(session, role, site_id)
    active = changes.get("active", user.active)
    stays_operator = role == "operator" and active
    if user.role == "operator" and user.active and not stays_operator and _active_operators(session) <= 1:
        raise ConflictError("this is the last active operator; make another operator first")
    user.role, user.site_id, user.active = role, site_id, active
    if "password_hash" in changes:
        user.password_hash = changes["password_hash"]
        revoke_all(session, user.id, datetime.now(timezone.utc))  # a changed password ends every session
    session.flush()
    return user
