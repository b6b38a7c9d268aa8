"""The audit log: every write through the API adds one row, in the same transaction as the write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import AuditEntry


def record(
    session: Session, user_id: int | None, action: str, target: str, details: Mapping[str, Any] | None = None
) -> AuditEntry:
    """Add an audit row (``details`` must be JSON-serialisable and free of secrets)."""
    entry = AuditEntry(user_id=user_id, action=action, target=target, details=dict(details or {}))
    session.add(entry)
    session.flush()
    return entry


def list_entries(
    session: Session,
    *,
    action: str | None = None,
    target: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    return list(session.scalars(query))


def failures_since(session: Session, action: str, target: str, since: datetime) -> tuple[int, datetime | None]:
    """How many ``action`` rows about ``target`` there are since ``since``, and when the first of them was."""
    count, first = session.execute(
        select(func.count(), func.min(AuditEntry.at)).where(
            AuditEntry.action == action, AuditEntry.target == target, AuditEntry.at >= since)
    ).one()
    return int(count), first


def last_at(session: Session, action: str, target: str) -> datetime | None:
    return session.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == action, AuditEntry.target == target))
