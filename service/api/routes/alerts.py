"""Alerts: property staff of the site (and operators) acknowledge them and report the lane cleared."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import AlertUser, SessionDep, site_scope
from service.api.schemas import AlertOut, AlertStatus, IdPath, Limit, Offset
from service.db import alerts, audit
from service.db.models import Alert

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    user: AlertUser,
    status: AlertStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[Alert]:
    return alerts.list_alerts(session, only_site_id=site_scope(user), status=status, limit=limit, offset=offset)


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: IdPath, session: SessionDep, user: AlertUser) -> Alert:
    return alerts.get_alert(session, alert_id, only_site_id=site_scope(user))


@router.post("/{alert_id}/ack", response_model=AlertOut)
def acknowledge(alert_id: IdPath, session: SessionDep, user: AlertUser) -> Alert:
    alert = alerts.acknowledge(session, alerts.get_alert(session, alert_id, only_site_id=site_scope(user)), user.id)
    audit.record(session, user.id, "alert.ack", f"alert:{alert.id}", {"violation_id": alert.violation_id})
    session.commit()
    return alert


@router.post("/{alert_id}/cleared", response_model=AlertOut)
def cleared(alert_id: IdPath, session: SessionDep, user: AlertUser) -> Alert:
    """The lane is free: ``cleared`` when the camera has seen the violation end; while it still sees the
    occupant, only a claim (``claimed_cleared_at``; the status stays) that the camera has to confirm."""
    alert = alerts.mark_cleared(session, alerts.get_alert(session, alert_id, only_site_id=site_scope(user)), user.id)
    action = "alert.clear" if alert.status == "cleared" else "alert.clear_claimed"
    audit.record(session, user.id, action, f"alert:{alert.id}", {"violation_id": alert.violation_id})
    session.commit()
    return alert
