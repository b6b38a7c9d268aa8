"""What the closed loop tells about sites: the ledger of each site, hotspots, repeat offenders and blocked
minutes per day. Read-only; scoped like the rest of the service (``only_site_id`` for property staff).

A violation belongs to a period by when it *started*; its blocked time runs from its start to its end (or to
``now`` while the lane is still occupied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from urllib.parse import quote

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from service.analytics import Offender, Tally, days_between, ranked, rebound_flags, repeat_offenders, split_by_day
from service.closed_loop import STATUS_LABELS, LoopState
from service.db.closed_loop import Fact, load_facts
from service.db.models import Site, Violation


# --- the ledger of a site ---


@dataclass(frozen=True)
class LedgerRow:
    fact: Fact
    state: LoopState

    @property
    def violation(self):  # noqa: ANN201 - a Violation
        return self.fact.violation

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.state.status, self.state.status)


def ledger(
    session: Session, site_id: int, *, since: datetime | None, until: datetime | None, now: datetime
) -> list[LedgerRow]:
    """Every occupation of the site's cameras that started in [since, until), oldest first, with its status."""
    facts = load_facts(session, since=since, until=until, site_id=site_id)
    return [LedgerRow(f, f.state(now)) for f in facts]


# --- hotspots ---


@dataclass(frozen=True)
class SiteKey:
    site_id: int | None
    site_code: str | None
    site_name: str | None


@dataclass(frozen=True)
class CameraKey:
    camera_id: str
    camera_name: str | None
    site_code: str | None
    site_name: str | None = None


@dataclass(frozen=True)
class ZoneKey:
    camera_id: str
    zone_id: str
    zone_name: str
    camera_name: str | None
    site_code: str | None
    site_name: str | None = None


@dataclass
class Hotspots:
    since: datetime
    until: datetime
    now: datetime
    sites: list[tuple[SiteKey, Tally]]
    cameras: list[tuple[CameraKey, Tally]]
    zones: list[tuple[ZoneKey, Tally]]
    daily: list[tuple[date, float]]  # local day, blocked minutes
    total: Tally = field(default_factory=Tally)
    facts: list[Fact] = field(default_factory=list)  # the violations of the period, oldest first
    states: list[LoopState] = field(default_factory=list)
    rebounds: list[bool] = field(default_factory=list)


def hotspots(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tz: tzinfo,
    rebound_window: timedelta,
    only_site_id: int | None = None,
    site_id: int | None = None,
    registered_only: bool = False,
) -> Hotspots:
    """Sites, cameras and zones ranked by violations that started in [since, until), blocked minutes and rebounds;
    plus blocked minutes per local day. Violations before ``since`` (within the rebound window) only count as
    the cleared ones a rebound follows."""
    facts = load_facts(session, since=since - rebound_window, until=until, only_site_id=only_site_id,
                       site_id=site_id, registered_only=registered_only)
    flags = rebound_flags([((f.violation.camera_id, f.violation.zone_id), f.violation.started_at,
                            f.violation.ended_at) for f in facts], rebound_window)
    sites: dict[SiteKey, Tally] = {}
    cameras: dict[CameraKey, Tally] = {}
    zones: dict[ZoneKey, Tally] = {}
    daily: dict[date, float] = {day: 0.0 for day in days_between(since, until, tz)}
    total = Tally()
    in_period, states, rebounds = [], [], []
    if only_site_id is None and site_id is None:  # every visible site is ranked, quiet ones too
        for site in session.scalars(select(Site).order_by(Site.code)):
            sites[SiteKey(site.id, site.code, site.name)] = Tally()
    else:
        site = session.get(Site, only_site_id if only_site_id is not None else site_id)
        if site is not None:
            sites[SiteKey(site.id, site.code, site.name)] = Tally()
    for fact, rebound in zip(facts, flags):
        v = fact.violation
        if v.started_at < since:
            continue
        state = fact.state(now)
        in_period.append(fact)
        states.append(state)
        rebounds.append(rebound)
        args = (state.blocked_s, rebound, state.escalated)
        total.add(*args)
        if fact.site_id is not None:
            sites.setdefault(SiteKey(fact.site_id, fact.site_code, fact.site_name), Tally()).add(*args)
        cameras.setdefault(CameraKey(v.camera_id, v.camera_name, fact.site_code, fact.site_name), Tally()).add(*args)
        zones.setdefault(ZoneKey(v.camera_id, v.zone_id, v.zone_name, v.camera_name, fact.site_code,
                                 fact.site_name),
                         Tally()).add(*args)
        for day, seconds in split_by_day(v.started_at, v.ended_at or now, tz).items():
            if day in daily:
                daily[day] += seconds / 60.0
    return Hotspots(since, until, now, ranked(sites), ranked(cameras), ranked(zones), sorted(daily.items()),
                    total, in_period, states, rebounds)


# --- repeat offenders ---


def evidence_links(fact: Fact) -> list[dict[str, str]]:
    v = fact.violation
    base = f"/api/violations/{quote(v.id, safe='')}"
    return [{"name": f.name, "role": f.role, "url": f"{base}/evidence/{quote(f.name, safe='')}"} for f in v.evidence]


def offenders(
    session: Session,
    *,
    until: datetime,
    window_days: float,
    min_count: int,
    site_id: int | None = None,
    only_site_id: int | None = None,
) -> list[Offender[Fact]]:
    """Plates with at least ``min_count`` confirmed violations that started in the ``window_days`` before ``until``."""
    since = until - timedelta(days=window_days)
    facts = load_facts(session, since=since, until=until, confirmed_only=True, site_id=site_id,
                       only_site_id=only_site_id, with_evidence=True)
    return repeat_offenders(facts, lambda f: f.violation.plate_text, lambda f: f.violation.started_at,
                            min_count=min_count, since=since, until=until)


def suggested_offenders(
    session: Session,
    *,
    until: datetime,
    window_days: float,
    min_count: int,
    site_id: int | None = None,
) -> list[tuple[Offender[Fact], int]]:
    """Plates the reader read on violations nobody has reviewed yet, that would make a repeat offender if the
    police confirmed them: (the unreviewed violations of the plate, how many are confirmed already). Kept apart
    from ``offenders``: a machine reading accuses nobody until an officer confirms it."""
    since = until - timedelta(days=window_days)
    facts = load_facts(session, since=since, until=until, site_id=site_id, with_evidence=True)
    confirmed: dict[str, int] = {}
    for fact in facts:
        if fact.violation.review_status == "confirmed" and fact.violation.plate_text:
            confirmed[fact.violation.plate_text] = confirmed.get(fact.violation.plate_text, 0) + 1
    unreviewed = [f for f in facts if f.violation.review_status is None and f.violation.plate_read]
    groups = repeat_offenders(unreviewed, lambda f: f.violation.plate_read, lambda f: f.violation.started_at,
                              min_count=1, since=since, until=until)
    found = [(o, confirmed.get(o.plate, 0)) for o in groups if o.count + confirmed.get(o.plate, 0) >= min_count]
    return sorted(found, key=lambda pair: (-(pair[0].count + pair[1]), pair[0].plate))


# --- heat map input ---


def camera_boxes(session: Session, camera_id: str, *, since: datetime, until: datetime) -> list[list[float]]:
    """The last box of every violation of the camera that started in [since, until)."""
    query = select(Violation.box).where(
        Violation.camera_id == camera_id, Violation.started_at >= since, Violation.started_at < until)
    return [list(box) for box in session.scalars(query)]


def camera_has_violations(session: Session, camera_id: str) -> bool:
    return session.scalar(select(exists().where(Violation.camera_id == camera_id))) or False
