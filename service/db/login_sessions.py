"""Login sessions: one row per cookie or bearer token, so one can be ended on the server without the others."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from service.db.models import LoginSession


def start_session(session: Session, user_id: int, via: str, client: str, now: datetime, ttl_s: int) -> LoginSession:
    """A new session row; the user's long-expired rows are dropped on the way (the table stays small)."""
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id,
                                               LoginSession.expires_at < now - timedelta(days=1)))
    row = LoginSession(id=secrets.token_urlsafe(24), user_id=user_id, via=via, client=client[:64],
                       created_at=now, expires_at=now + timedelta(seconds=ttl_s))
    session.add(row)
    session.flush()
    return row


def is_live(session: Session, session_id: str, user_id: int, now: datetime) -> bool:
    row = session.get(LoginSession, session_id)
    return row is not None and row.user_id == user_id and row.revoked_at is None and row.expires_at > now


def revoke(session: Session, session_id: str, now: datetime) -> bool:
    """End one session; False when it was not live."""
    result = session.execute(update(LoginSession).where(
        LoginSession.id == session_id, LoginSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount > 0


def revoke_all(session: Session, user_id: int, now: datetime) -> int:
    """End every session of a user (password changed): how many were live."""
    result = session.execute(update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount
