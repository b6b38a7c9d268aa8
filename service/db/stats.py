"""What the dashboard and the alert board show: counts per site and camera, zone occupancy over time,
and alerts with their violation. Every query is scoped like the rest of the service: ``only_site_id``
(property staff) sees that site only, and never violations of unregistered cameras."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from service.db.models import Alert, Camera, Site, Violation
from service.db.violation_search import SitedViolation, pending_clause, sited_violations


@dataclass
class Counts:
    """Violations still going on (not ended), waiting for police review, and all recorded."""

    open: int = 0
    pending: int = 0
    total: int = 0

    def add(self, other: Counts) -> None:
        self.open += other.open
        self.pending += other.pending
        self.total += other.total


@dataclass
class CameraCounts:
    camera_id: str
    camera_name: str | None
    site_id: int | None
    counts: Counts


@dataclass
class SiteCounts:
    site_id: int | None  # None: violations of cameras that are not registered
    site_code: str | None
    site_name: str | None
    counts: Counts
    cameras: list[CameraCounts] = field(default_factory=list)


def violation_counts(session: Session, *, only_site_id: int | None = None) -> list[SiteCounts]:
    """Per visible site (each with its cameras), zero counts included; unregistered cameras last."""
    per_camera = select(
        Violation.camera_id,
        func.max(Violation.camera_name),
        func.count(),
        func.sum(case((Violation.ended_at.is_(None), 1), else_=0)),
        func.sum(case((pending_clause(), 1), else_=0)),
    ).group_by(Violation.camera_id)
    if only_site_id is not None:
        per_camera = per_camera.where(Violation.site_id == only_site_id)
    found = {
        camera_id: (name, Counts(open=int(opened or 0), pending=int(pending or 0), total=int(total)))
        for camera_id, name, total, opened, pending in session.execute(per_camera)
    }

    site_query = select(Site).order_by(Site.code)
    camera_query = select(Camera).order_by(Camera.id)
    if only_site_id is not None:
        site_query = site_query.where(Site.id == only_site_id)
        camera_query = camera_query.where(Camera.site_id == only_site_id)
    sites = {s.id: SiteCounts(s.id, s.code, s.name, Counts()) for s in session.scalars(site_query)}
    for camera in session.scalars(camera_query):
        _, counts = found.pop(camera.id, (None, Counts()))
        site = sites.get(camera.site_id)
        if site is None:  # a camera of a site this user cannot see (not possible when scoped)
            continue
        site.cameras.append(CameraCounts(camera.id, camera.name, camera.site_id, counts))
        site.counts.add(counts)
    result = list(sites.values())
    if found and only_site_id is None:
        unregistered = SiteCounts(None, None, None, Counts())
        for camera_id, (name, counts) in sorted(found.items()):
            unregistered.cameras.append(CameraCounts(camera_id, name, None, counts))
            unregistered.counts.add(counts)
        result.append(unregistered)
    return result


@dataclass
class Timeline:
    """Violations overlapping [since, until], oldest first; ``fitted`` when the window was fitted to the
    data because nothing happened in the requested hours."""

    since: datetime
    until: datetime
    fitted: bool
    violations: list[SitedViolation]


def occupancy_timeline(
    session: Session, *, now: datetime, hours: float, only_site_id: int | None = None, limit: int = 2000
) -> Timeline:
    """Violations that overlap the last ``hours`` before ``now``; if there are none, the newest
    ``limit`` violations and the range they span (so a quiet day still shows the latest events)."""
    since = now - timedelta(hours=hours)
    query = (
        sited_violations(only_site_id)
        .where(Violation.started_at < now, or_(Violation.ended_at.is_(None), Violation.ended_at > since))
        .order_by(Violation.started_at, Violation.id)
        .limit(limit)
    )
    rows = [SitedViolation(*row) for row in session.execute(query)]
    if rows:
        return Timeline(since, now, False, rows)
    latest = sited_violations(only_site_id).order_by(Violation.started_at.desc(), Violation.id.desc()).limit(limit)
    rows = [SitedViolation(*row) for row in session.execute(latest)][::-1]
    if not rows:
        return Timeline(since, now, False, [])
    start = min(r.violation.started_at for r in rows)
    end = max(r.violation.ended_at or r.violation.violation_at for r in rows)
    pad = max((end - start) * 0.05, timedelta(minutes=1))
    return Timeline(start - pad, end + pad, True, rows)


@dataclass(frozen=True)
class BoardAlert:
    """An alert with what property staff need to find the car: its violation, camera and site."""

    alert: Alert
    violation: Violation
    camera_name: str | None
    site_code: str
    site_name: str


def alert_board(
    session: Session,
    *,
    only_site_id: int | None = None,
    statuses: tuple[str, ...] = ("open", "acknowledged"),
    alert_ids: tuple[int, ...] | None = None,
    limit: int = 200,
) -> list[BoardAlert]:
    """Alerts in ``statuses`` (or only ``alert_ids``, in any status), newest first, with their violation
    (and its evidence rows)."""
    query = (
        select(Alert, Violation, Camera.name, Site.code, Site.name)
        .join(Violation, Violation.id == Alert.violation_id)
        .join(Site, Site.id == Alert.site_id)
        .outerjoin(Camera, Camera.id == Alert.camera_id)
        .where(Alert.id.in_(alert_ids) if alert_ids is not None else Alert.status.in_(statuses))
        .options(selectinload(Violation.evidence))
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    if only_site_id is not None:
        query = query.where(Alert.site_id == only_site_id)
    return [BoardAlert(*row) for row in session.execute(query)]
