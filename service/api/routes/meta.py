"""Service information, health and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import text

from service.api.deps import OperatorUser, SessionDep
from service.api.schemas import AuditOut
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
    action: str | None = None,
    target: str | None = None,
    user_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditEntry]:
    """Newest first."""
    return audit.list_entries(session, action=action, target=target, user_id=user_id, limit=limit, offset=offset)
