"""Violations as the service shows them: scoped to what a user may see, filtered, with their site."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from service.db.errors import NotFoundError
from service.db.models import Site, Violation


@dataclass(frozen=True)
class SitedViolation:
    """A violation with the site of its camera (None while the camera is not registered)."""

    violation: Violation
    site_id: int | None
    site_code: str | None
    site_name: str | None = None  # what people call the site: pages show this, not the code


def pending_clause():  # noqa: ANN201 - a SQL expression
    """NULL review_status is pending too (rows written by the pipeline carry none)."""
    return or_(Violation.review_status.is_(None), Violation.review_status == "pending")


def sited_violations(only_site_id: int | None) -> Select:
    """Violations with the id, code and name of the site they were recorded at, limited to one site when given.

    Violations of unregistered cameras belong to no site: only operators and police see them."""
    query = select(Violation, Violation.site_id, Site.code, Site.name)
    if only_site_id is not None:
        query = query.where(Violation.site_id == only_site_id)
    return query.outerjoin(Site, Site.id == Violation.site_id)


def search_violations(
    session: Session,
    *,
    only_site_id: int | None = None,
    site_code: str | None = None,
    camera_id: str | None = None,
    status: str | None = None,
    open_only: bool = False,
    oldest_first: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[SitedViolation]:
    query = sited_violations(only_site_id)
    if site_code is not None:
        query = query.where(Site.code == site_code)
    if camera_id is not None:
        query = query.where(Violation.camera_id == camera_id)
    if status == "pending":
        query = query.where(pending_clause())
    elif status is not None:
        query = query.where(Violation.review_status == status)
    if open_only:
        query = query.where(Violation.ended_at.is_(None))
    order = (Violation.started_at, Violation.id) if oldest_first else (Violation.started_at.desc(), Violation.id.desc())
    query = query.order_by(*order).limit(limit).offset(offset)
    return [SitedViolation(*row) for row in session.execute(query)]


def get_violation(
    session: Session, violation_id: str, *, only_site_id: int | None = None, with_evidence: bool = False
) -> SitedViolation:
    query = sited_violations(only_site_id).where(Violation.id == violation_id)
    if with_evidence:
        query = query.options(selectinload(Violation.evidence))
    row = session.execute(query).first()
    if row is None:
        raise NotFoundError(f"no violation {violation_id!r}")
    return SitedViolation(*row)
