"""Police review of violations: the queue of pending ones and the one decision each gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db.errors import ConflictError, InvalidError, NotFoundError
from service.db.models import REVIEW_DECISIONS, Alert, Review, Site, Violation
from service.db.violation_search import SitedViolation, pending_clause


@dataclass(frozen=True)
class QueuedViolation(SitedViolation):
    """A pending violation with its escalation (None: not escalated, or no alert because the camera is unregistered)."""

    escalated_at: datetime | None = None
    alert_id: int | None = None


def review_queue(
    session: Session, *, escalated_only: bool = False, limit: int = 100, offset: int = 0
) -> list[QueuedViolation]:
    """Pending violations of every site: escalated ones first (earliest deadline first), then the rest oldest first.

    Violations of unregistered cameras have no alert, are never escalated and stay in the queue as before."""
    query = (
        select(Violation, Violation.site_id, Site.code, Site.name, Alert.escalated_at, Alert.id)
        .outerjoin(Site, Site.id == Violation.site_id)
        .outerjoin(Alert, Alert.violation_id == Violation.id)
        .where(pending_clause())
        .order_by(Alert.escalated_at.is_(None), Alert.escalated_at, Violation.started_at, Violation.id)
        .limit(limit)
        .offset(offset)
    )
    if escalated_only:
        query = query.where(Alert.escalated_at.is_not(None))
    return [QueuedViolation(*row) for row in session.execute(query)]


def get_review(session: Session, violation_id: str) -> Review | None:
    return session.scalar(select(Review).where(Review.violation_id == violation_id))


def plate_read(session: Session, violation_id: str) -> str | None:
    """What the plate reader voted for the violation's vehicle (None: nothing read)."""
    return session.scalar(select(Violation.plate_read).where(Violation.id == violation_id))


def decide(
    session: Session,
    violation_id: str,
    reviewer_id: int,
    decision: str,
    *,
    plate_text: str | None = None,
    reason: str | None = None,
) -> Review:
    """Confirm (with the plate read) or reject (with a reason) a pending violation, once.

    The status changes with a conditional UPDATE and ``reviews.violation_id`` is unique, so of two
    reviewers deciding at the same moment one wins and the other gets ``ConflictError``.
    """
    if decision not in REVIEW_DECISIONS:
        raise InvalidError(f"decision: must be one of {', '.join(REVIEW_DECISIONS)}")
    if decision == "confirmed" and not plate_text:
        raise InvalidError("plate_text: required to confirm a violation")
    if decision == "rejected" and not reason:
        raise InvalidError("reason: required to reject a violation")
    if session.get(Violation, violation_id) is None:
        raise NotFoundError(f"no violation {violation_id!r}")
    plate = plate_text if decision == "confirmed" else None
    changed = session.execute(
        update(Violation)
        .where(Violation.id == violation_id, pending_clause())
        .values(review_status=decision, plate_text=plate)
        .execution_options(synchronize_session="fetch")
    )
    if changed.rowcount != 1:
        raise ConflictError(f"violation {violation_id!r} has already been decided")
    review = Review(
        violation_id=violation_id,
        reviewer_id=reviewer_id,
        decision=decision,
        plate_text=plate,
        reason=reason if decision == "rejected" else None,
    )
    session.add(review)
    session.flush()
    return review
