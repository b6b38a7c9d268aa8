"""Service information, health and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import text

from service.api.deps import OperatorUser, SessionDep
from service.api.schemas import NO_NUL_PATTERN, AuditOut, IdQuery, Limit, Offset
from service.db import audit
from service.db.models import AuditEntry

router = APIRouter()


@router.get("/", tags=["meta"])
def index() -> dict[str, str]:
    return {"name": "firelane", "docs": "/docs", "api": "/api"}


@router.get("/api/health", tags=["meta"])
def health(session: SessionDep) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/api/audit", response_model=list[AuditOut], tags=["audit"])
def list_audit(
    session: SessionDep,
    _: OperatorUser,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL_PATTERN)] = None,
    target: Annotated[str | None, Query(max_length=256, pattern=NO_NUL_PATTERN)] = None,
    user_id: IdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditEntry]:
    """Newest first."""
    return audit.list_entries(session, action=action, target=target, user_id=user_id, limit=limit, offset=offset)
