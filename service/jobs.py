"""Periodic jobs ``firelane serve`` runs beside the camera workers: the escalation of overdue alerts (every
``escalation_interval_s``) and the scheduled weekly reports (``report_weekday`` at ``report_time``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from service.db.closed_loop import run_closed_loop
from service.db.errors import OutageLog
from service.reports.week import Week, next_report_run
from service.settings import Settings

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def escalate_once(sessions: sessionmaker[Session], now: datetime | None = None) -> tuple[int, int]:
    """Confirm cleared claims, close alerts whose vehicle left unattended and escalate overdue alerts in one
    transaction; (confirmed, escalated)."""
    with sessions.begin() as session:
        done = run_closed_loop(session, now or utc_now())
        if done.left:
            log.info("%d alert(s) closed: the vehicle left before anyone acted", len(done.left))
        return len(done.confirmed), len(done.escalated)


def escalation_loop(sessions: sessionmaker[Session], stop: threading.Event, interval_s: float = 30.0,
                    clock: Clock = utc_now) -> None:
    """Run ``escalate_once`` every ``interval_s`` until ``stop``; an error (database down) is logged, never fatal."""
    outage = OutageLog(log, "escalation job")
    while not stop.is_set():
        try:
            escalate_once(sessions, clock())
        except Exception as error:  # noqa: BLE001 - keep the loop alive
            outage.failed(error)
        else:
            outage.ok()
        stop.wait(interval_s)


def scheduled_weeks(run_at: datetime, tz: ZoneInfo) -> list[Week]:
    """What a scheduled run writes: the week it runs in (so far) and the week before, now complete."""
    current = Week.of(run_at, tz)
    return [current.previous(), current]


def write_scheduled_reports(settings: Settings, sessions: sessionmaker[Session], run_at: datetime) -> list[Week]:
    from service.reports.store import report_store
    from service.reports.weekly import generate_weekly

    weeks = scheduled_weeks(run_at, ZoneInfo(settings.report_timezone))
    store = report_store(settings)
    with sessions() as session:
        for week in weeks:
            generate_weekly(session, settings, week, store, now=run_at)
    log.info("weekly reports written to %s: %s", store.url, ", ".join(map(str, weeks)))
    return weeks


def report_loop(settings: Settings, sessions: sessionmaker[Session], stop: threading.Event,
                clock: Clock = utc_now, check_s: float = 60.0) -> None:
    """Sleep until the next ``next_report_run``, write the reports, repeat; rechecks the clock every ``check_s``
    so a changed system time or a suspended machine does not make it miss the run by a week."""
    args = (settings.report_weekday, settings.report_time, settings.report_timezone)
    target = next_report_run(clock(), *args)
    log.info("next weekly report at %s", target.isoformat())
    while not stop.is_set():
        remaining = (target - clock()).total_seconds()
        if remaining > 0:
            stop.wait(min(remaining, check_s))
            continue
        try:
            write_scheduled_reports(settings, sessions, target)
        except Exception:  # noqa: BLE001
            log.exception("scheduled weekly report failed")
        target = next_report_run(max(clock(), target), *args)
