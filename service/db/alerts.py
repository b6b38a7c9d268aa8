"""Alerts for property staff, and the outbox that carries each new violation to webhooks and MQTT.

``enqueue_violation_alert`` is called by the writer of violations in its own transaction, so the
alert and its outbox messages exist exactly when the violation does (transactional outbox).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.closed_loop import due_at
from service.db.errors import ConflictError, NotFoundError
from service.db.models import OUTBOX_CHANNELS, Alert, Camera, OutboxMessage, Site, Violation


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def violation_topic(site_code: str, camera_id: str) -> str:
    return f"firelane/{site_code}/{camera_id}/violations"


def violation_payload(violation: Violation, site_code: str) -> dict[str, Any]:
    return {
        "event": "violation.started",
        "id": violation.id,
        "site": site_code,
        "camera_id": violation.camera_id,
        "zone_id": violation.zone_id,
        "object_class": violation.object_class,
        "started_at": _iso(violation.started_at),
        "violation_at": _iso(violation.violation_at),
        "evidence_dir": violation.evidence_dir,
    }


def enqueue_violation_alert(session: Session, violation: Violation, now: datetime | None = None) -> Alert | None:
    """Create the alert of a violation of a registered camera and its webhook and MQTT messages.

    The alert is sent ``now`` and is due (the lane clear) by ``now`` + the site's clear limit as it is now: a
    later change of the limit moves no deadline already announced. Adds to the caller's transaction (no
    commit). Returns None, adding nothing, when the camera is not registered. Calling it again for the same
    violation adds nothing and returns the alert.
    """
    camera = session.get(Camera, violation.camera_id)
    if camera is None:
        return None
    now = now or datetime.now(timezone.utc)
    site = session.get_one(Site, camera.site_id)
    alert = session.scalar(select(Alert).where(Alert.violation_id == violation.id))
    if alert is None:
        alert = Alert(
            violation_id=violation.id,
            site_id=camera.site_id,
            camera_id=violation.camera_id,
            zone_id=violation.zone_id,
            status="open",
            created_at=now,
            due_at=due_at(now, site.clear_limit_s),
        )
        session.add(alert)
    site_code = site.code
    key = f"violation-started:{violation.id}"
    existing = set(
        session.scalars(select(OutboxMessage.channel).where(OutboxMessage.idempotency_key == key))
    )
    for channel in OUTBOX_CHANNELS:
        if channel not in existing:
            session.add(
                OutboxMessage(
                    channel=channel,
                    topic=violation_topic(site_code, violation.camera_id),
                    payload=violation_payload(violation, site_code),
                    idempotency_key=key,
                    next_attempt_at=now,
                )
            )
    session.flush()
    return alert


def list_alerts(
    session: Session,
    *,
    only_site_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Newest first."""
    query = select(Alert).order_by(Alert.id.desc()).limit(limit).offset(offset)
    if only_site_id is not None:
        query = query.where(Alert.site_id == only_site_id)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))


def get_alert(session: Session, alert_id: int, *, only_site_id: int | None = None) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or (only_site_id is not None and alert.site_id != only_site_id):
        raise NotFoundError(f"no alert {alert_id}")
    return alert


def _transition(session: Session, alert: Alert, allowed: tuple[str, ...], **values: Any) -> None:
    """Change the status only from an ``allowed`` one, atomically: of two clicks at once, one wins."""
    changed = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    if changed.rowcount != 1:
        session.refresh(alert)
        raise ConflictError(f"alert {alert.id} is {alert.status}; cannot become {values['status']}")


def acknowledge(session: Session, alert: Alert, user_id: int) -> Alert:
    """Someone is on it: open → acknowledged (not once the vehicle has left: ``left`` is final)."""
    _transition(session, alert, ("open",), status="acknowledged",
                acknowledged_at=datetime.now(timezone.utc), acknowledged_by=user_id)
    return alert


def mark_cleared(session: Session, alert: Alert, user_id: int, now: datetime | None = None) -> Alert:
    """Property staff report the lane free again.

    Clearing counts when the camera confirms it: when the violation has ended, open or acknowledged →
    cleared. While the camera still sees the occupant the report is only a claim: the alert keeps its
    status and gets ``claimed_cleared_at``/``_by`` (the first claim is kept; claiming again changes
    nothing); ``service.db.closed_loop.confirm_cleared_claims`` closes it once the violation ends.
    """
    now = now or datetime.now(timezone.utc)
    ended_at = session.scalar(select(Violation.ended_at).where(Violation.id == alert.violation_id))
    if ended_at is not None:
        _transition(session, alert, ("open", "acknowledged"), status="cleared", cleared_at=now, cleared_by=user_id)
        return alert
    changed = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status.in_(("open", "acknowledged")), Alert.claimed_cleared_at.is_(None))
        .values(claimed_cleared_at=now, claimed_cleared_by=user_id)
        .execution_options(synchronize_session="fetch")
    )
    if changed.rowcount != 1:
        session.refresh(alert)
        if alert.status not in ("open", "acknowledged"):
            raise ConflictError(f"alert {alert.id} is {alert.status}; cannot become cleared")
    return alert


def pending_outbox(session: Session, *, channel: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    """Undelivered messages that are due, oldest first (for the delivery worker)."""
    now = datetime.now(timezone.utc)
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return list(session.scalars(query))
