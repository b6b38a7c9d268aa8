"""The closed loop in the database: violations with their site, alert and clear limit (``Fact``), the
escalation job and the confirmation of "lane cleared" claims. The caller owns the transaction.

The rule itself is ``service.closed_loop.evaluate``; the queries here only pick the rows it has to look at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, or_, select, update
from sqlalchemy.orm import Session, selectinload

from service.closed_loop import LoopFacts, LoopState, evaluate
from service.db import audit
from service.db.alerts import violation_topic
from service.db.models import (
    DEFAULT_CLEAR_LIMIT_S,
    OUTBOX_CHANNELS,
    Alert,
    CameraState,
    OutboxMessage,
    Site,
    UtcDateTime,
    Violation,
)
from service.db.violation_search import pending_clause

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fact:
    """One violation with everything the closed loop needs: its site (by its camera), the site's limit, its alert."""

    violation: Violation
    site_id: int | None
    site_code: str | None
    site_name: str | None
    clear_limit_s: int
    alert: Alert | None

    def loop_facts(self) -> LoopFacts:
        v, a = self.violation, self.alert
        return LoopFacts(
            started_at=v.started_at,
            violation_at=v.violation_at,
            ended_at=v.ended_at,
            alerted_at=a.created_at if a is not None else None,
            clear_limit_s=self.clear_limit_s,
            acknowledged_at=a.acknowledged_at if a is not None else None,
            claimed_cleared_at=a.claimed_cleared_at if a is not None else None,
            escalated_at=a.escalated_at if a is not None else None,
            review_status=v.review_status,
            due_at=a.due_at if a is not None else None,
        )

    def state(self, now: datetime) -> LoopState:
        return evaluate(self.loop_facts(), now)


def _facts_query(only_site_id: int | None) -> Select:
    query = select(Violation, Violation.site_id, Site.code, Site.name, Site.clear_limit_s, Alert)
    if only_site_id is not None:
        # Violations of unregistered cameras belong to no site: only operators and police see them.
        query = query.where(Violation.site_id == only_site_id)
    return query.outerjoin(Site, Site.id == Violation.site_id).outerjoin(Alert, Alert.violation_id == Violation.id)


def load_facts(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    only_site_id: int | None = None,
    site_id: int | None = None,
    camera_id: str | None = None,
    registered_only: bool = False,
    confirmed_only: bool = False,
    with_evidence: bool = False,
) -> list[Fact]:
    """Violations that *started* in [since, until), oldest first, scoped like the rest of the service."""
    query = _facts_query(only_site_id)
    if since is not None:
        query = query.where(Violation.started_at >= since)
    if until is not None:
        query = query.where(Violation.started_at < until)
    if site_id is not None:
        query = query.where(Violation.site_id == site_id)
    if registered_only:
        query = query.where(Violation.site_id.is_not(None))
    if camera_id is not None:
        query = query.where(Violation.camera_id == camera_id)
    if confirmed_only:
        query = query.where(Violation.review_status == "confirmed")
    if with_evidence:
        query = query.options(selectinload(Violation.evidence))
    query = query.order_by(Violation.started_at, Violation.id)
    return [
        Fact(v, sid, code, name, limit if limit is not None else DEFAULT_CLEAR_LIMIT_S, alert)
        for v, sid, code, name, limit, alert in session.execute(query)
    ]


# --- the escalation job ---


def _seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    """``later - earlier`` in seconds, on SQLite (ISO text) and PostgreSQL (timestamptz)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def escalation_payload(violation: Violation, alert: Alert, site_code: str, now: datetime) -> dict[str, Any]:
    return {
        "event": "violation.escalated",
        "id": violation.id,
        "alert_id": alert.id,
        "site": site_code,
        "camera_id": violation.camera_id,
        "zone_id": violation.zone_id,
        "violation_at": violation.violation_at.astimezone(timezone.utc).isoformat(),
        "alerted_at": alert.created_at.astimezone(timezone.utc).isoformat(),
        "escalated_at": alert.escalated_at.astimezone(timezone.utc).isoformat() if alert.escalated_at else None,
        "ended_at": violation.ended_at.astimezone(timezone.utc).isoformat() if violation.ended_at else None,
        "sent_at": now.astimezone(timezone.utc).isoformat(),
    }


# A camera whose checkpoint is older than this is not watching (process down, stream gone): its open violations
# are not escalated on what it saw last. It checkpoints every few seconds while anything occupies a zone.
CAMERA_STALE_S = 60.0


def escalate_overdue(session: Session, now: datetime | None = None) -> list[Alert]:
    """Stamp ``escalated_at`` (= the deadline) on every alert whose lane was not cleared in time and whose violation
    waits for review; add an audit row and a ``violation.escalated`` webhook/MQTT message for each.

    A violation still open is escalated only while its camera is known to be watching (a fresh checkpoint, or a
    camera that never checkpoints): once the camera is back it either ends the violation at its last sighting or
    confirms it is still there. Safe to run concurrently and repeatedly: a conditional UPDATE stamps each alert
    once. No commit.
    """
    now = now or datetime.now(timezone.utc)
    watching = or_(
        Violation.ended_at.is_not(None),
        CameraState.camera_id.is_(None),
        CameraState.saved_at >= literal(now - timedelta(seconds=CAMERA_STALE_S), UtcDateTime()),
    )
    # A loose pre-filter in SQL (julianday is not exact to the millisecond); the rule decides below.
    past_due = _seconds_between(session, literal(now, UtcDateTime()), Alert.due_at)
    ended_after_due = _seconds_between(session, Violation.ended_at, Alert.due_at)
    query = (
        select(Alert, Violation, Site)
        .join(Violation, Violation.id == Alert.violation_id)
        .join(Site, Site.id == Alert.site_id)
        .outerjoin(CameraState, CameraState.camera_id == Violation.camera_id)
        .where(
            Alert.escalated_at.is_(None),
            watching,
            pending_clause(),
            past_due >= -1,
            or_(Violation.ended_at.is_(None), ended_after_due > -1),
        )
        .order_by(Alert.id)
    )
    escalated = []
    for alert, violation, site in session.execute(query).all():
        fact = Fact(violation, site.id, site.code, site.name, site.clear_limit_s, alert)
        state = fact.state(now)
        if not state.escalate:
            continue
        changed = session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.escalated_at.is_(None))
            .values(escalated_at=state.due_at)
            .execution_options(synchronize_session="fetch")
        )
        if changed.rowcount != 1:
            continue  # another process got there first
        audit.record(session, None, "alert.escalate", f"alert:{alert.id}", {
            "violation_id": violation.id,
            "escalated_at": state.due_at.isoformat() if state.due_at else None,
            "clear_limit_s": round((alert.due_at - alert.created_at).total_seconds()),  # as sent, not as now
            "stamped_at": now.isoformat(),
            "lane_still_occupied": violation.ended_at is None,
        })
        key = f"violation-escalated:{violation.id}"
        payload = escalation_payload(violation, alert, site.code, now)
        existing = set(session.scalars(select(OutboxMessage.channel).where(OutboxMessage.idempotency_key == key)))
        for channel in OUTBOX_CHANNELS:
            if channel not in existing:
                session.add(OutboxMessage(
                    channel=channel,
                    topic=violation_topic(site.code, violation.camera_id).rsplit("/", 1)[0] + "/escalations",
                    payload=payload,
                    idempotency_key=key,
                    next_attempt_at=now,
                ))
        escalated.append(alert)
        log.info("escalated violation %s (alert %s) to the police queue", violation.id, alert.id)
    session.flush()
    return escalated


def confirm_cleared_claims(session: Session, now: datetime | None = None) -> list[Alert]:
    """Close as cleared the alerts whose "lane cleared" claim the camera has since confirmed (the violation
    ended). ``cleared_at`` is the later of the claim and the end; ``cleared_by`` the claimant. No commit."""
    now = now or datetime.now(timezone.utc)
    query = (
        select(Alert, Violation.ended_at)
        .join(Violation, Violation.id == Alert.violation_id)
        .where(
            Alert.status.in_(("open", "acknowledged")),
            Alert.claimed_cleared_at.is_not(None),
            Violation.ended_at.is_not(None),
        )
        .order_by(Alert.id)
    )
    confirmed = []
    for alert, ended_at in session.execute(query).all():
        cleared_at = max(alert.claimed_cleared_at, ended_at)
        changed = session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.status.in_(("open", "acknowledged")))
            .values(status="cleared", cleared_at=cleared_at, cleared_by=alert.claimed_cleared_by)
            .execution_options(synchronize_session="fetch")
        )
        if changed.rowcount != 1:
            continue
        audit.record(session, None, "alert.clear_confirmed", f"alert:{alert.id}", {
            "violation_id": alert.violation_id, "ended_at": ended_at.isoformat(), "confirmed_at": now.isoformat(),
        })
        confirmed.append(alert)
    session.flush()
    return confirmed


def close_left_alerts(session: Session, now: datetime | None = None) -> list[Alert]:
    """Close as ``left`` the open alerts nobody acknowledged or claimed whose vehicle the camera saw leave (the
    violation ended): nothing waits for property staff any more, and they are not overdue. ``cleared_at`` is when
    the vehicle was last seen; an escalation already stamped stays. No commit."""
    now = now or datetime.now(timezone.utc)
    query = (
        select(Alert, Violation.ended_at)
        .join(Violation, Violation.id == Alert.violation_id)
        .where(Alert.status == "open", Alert.claimed_cleared_at.is_(None), Violation.ended_at.is_not(None))
        .order_by(Alert.id)
    )
    left = []
    for alert, ended_at in session.execute(query).all():
        changed = session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.status == "open", Alert.claimed_cleared_at.is_(None))
            .values(status="left", cleared_at=ended_at)
            .execution_options(synchronize_session="fetch")
        )
        if changed.rowcount != 1:
            continue  # acknowledged or claimed meanwhile: someone acted
        audit.record(session, None, "alert.vehicle_left", f"alert:{alert.id}", {
            "violation_id": alert.violation_id, "ended_at": ended_at.isoformat(), "seen_at": now.isoformat(),
        })
        left.append(alert)
    session.flush()
    return left


@dataclass(frozen=True)
class LoopPass:
    """What one pass of the closed-loop job changed."""

    confirmed: list[Alert]  # "lane cleared" claims the camera confirmed
    left: list[Alert]  # vehicles gone before anyone acted
    escalated: list[Alert]  # overdue: sent to the police queue


def run_closed_loop(session: Session, now: datetime | None = None) -> LoopPass:
    """One pass of the background job: confirm claims the camera has seen come true, close the alerts whose
    vehicle left before anyone acted, then escalate."""
    now = now or datetime.now(timezone.utc)
    return LoopPass(confirm_cleared_claims(session, now), close_left_alerts(session, now), escalate_overdue(session, now))
