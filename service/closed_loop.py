"""The escalation rule that closes the loop between a violation, the property staff and the police.

Pure code, like the occupancy rule: every time is passed in (``now`` included), nothing is read or written.

The time line of a violation of a registered camera:

    detected (violation_at) → alerted (alert created_at) → acknowledged (acknowledged_at)
        → cleared (violation ended_at: the *camera* saw the lane free for the zone's leave_s)
        or escalated (escalated_at = the alert's due_at) → confirmed / rejected (police review)

The deadline (``due_at``) is fixed when the alert is sent: alerted + the site's clear limit *then*; changing the
limit later moves no deadline already announced. An alert nobody acknowledged whose vehicle the camera saw leave
is ``left`` (车辆已离开): nothing is waiting for anyone, and it is not overdue.

Property staff pressing "lane cleared" is only a claim (``claimed_cleared_at``): clearing counts when the camera
confirms it, i.e. when the violation has ended. A violation still occupying the lane when the limit runs out,
or one that ended only after it, is escalated to the police review queue; the escalation keeps the deadline
as its time (``escalated_at = due_at``), however late the job that stamps it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# How the property side of the loop stands.
UNALERTED = "unalerted"  # camera not registered to a site: nobody was alerted, nothing to escalate
AWAITING = "awaiting"  # alerted, occupant still there, the limit has not run out
ESCALATED = "escalated"  # occupant still there after the limit: in the police queue
CLEARED_IN_TIME = "cleared_in_time"  # the camera saw the lane clear before the limit ran out
CLEARED_LATE = "cleared_late"  # the camera saw the lane clear, but only after the limit
CLEAR_STATES = (UNALERTED, AWAITING, ESCALATED, CLEARED_IN_TIME, CLEARED_LATE)

# What the ledger shows: the police decision when there is one, else how clearing went.
OPEN = "open"
ENDED = "ended"  # no alert (camera registered after the fact, or never): the occupant left by itself
CONFIRMED = "confirmed"
REJECTED = "rejected"
LEDGER_STATUSES = (OPEN, CLEARED_IN_TIME, CLEARED_LATE, ESCALATED, CONFIRMED, REJECTED, ENDED)
STATUS_LABELS = {
    OPEN: "处理中",
    CLEARED_IN_TIME: "按时清理",
    CLEARED_LATE: "超时清理",
    ESCALATED: "已移交交警",
    CONFIRMED: "交警确认",
    REJECTED: "交警驳回",
    ENDED: "已离开（无告警）",
}


@dataclass(frozen=True)
class LoopFacts:
    """What is known about one violation and its alert (None where it has not happened)."""

    started_at: datetime
    violation_at: datetime
    ended_at: datetime | None
    alerted_at: datetime | None  # the alert's created_at; None: no alert (unregistered camera)
    clear_limit_s: float
    acknowledged_at: datetime | None = None
    claimed_cleared_at: datetime | None = None
    escalated_at: datetime | None = None
    review_status: str | None = None  # None or "pending", "confirmed", "rejected"
    due_at: datetime | None = None  # the deadline the alert was sent with; None: alerted_at + clear_limit_s


@dataclass(frozen=True)
class LoopState:
    state: str  # one of CLEAR_STATES
    status: str  # one of LEDGER_STATUSES
    due_at: datetime | None  # when the lane has to be clear (alert + limit)
    escalate: bool  # overdue, pending review, not stamped yet: the job stamps escalated_at = due_at now
    escalated: bool  # escalated (stamped, or due to be)
    time_to_ack_s: float | None
    time_to_clear_s: float | None  # alert → camera saw the lane clear
    claim_unconfirmed: bool  # staff said "cleared" but the camera still sees the occupant
    blocked_s: float  # started_at → ended_at (or now)


def due_at(alerted_at: datetime, clear_limit_s: float) -> datetime:
    return alerted_at + timedelta(seconds=clear_limit_s)


def blocked_seconds(started_at: datetime, ended_at: datetime | None, now: datetime) -> float:
    """How long the occupant blocked the lane: until it was last seen, or until ``now`` while it is still there."""
    return max(0.0, ((ended_at or now) - started_at).total_seconds())


def _since(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def evaluate(facts: LoopFacts, now: datetime) -> LoopState:
    """Where the violation stands at ``now``."""
    decided = facts.review_status in (CONFIRMED, REJECTED)
    blocked = blocked_seconds(facts.started_at, facts.ended_at, now)
    if facts.alerted_at is None:
        status = facts.review_status if decided else (OPEN if facts.ended_at is None else ENDED)
        return LoopState(UNALERTED, status, None, False, False, None, None, False, blocked)

    due = facts.due_at or due_at(facts.alerted_at, facts.clear_limit_s)
    if facts.ended_at is not None:
        state = CLEARED_IN_TIME if facts.ended_at <= due else CLEARED_LATE
        overdue = state == CLEARED_LATE
    else:
        overdue = now >= due
        state = ESCALATED if overdue or facts.escalated_at is not None else AWAITING
    escalate = overdue and facts.escalated_at is None and not decided
    escalated = facts.escalated_at is not None or escalate
    if decided:
        status = facts.review_status
    else:
        status = OPEN if state == AWAITING else state
    return LoopState(
        state=state,
        status=status,  # type: ignore[arg-type]
        due_at=due,
        escalate=escalate,
        escalated=escalated,
        time_to_ack_s=_since(facts.acknowledged_at, facts.alerted_at),
        time_to_clear_s=_since(facts.ended_at, facts.alerted_at),
        claim_unconfirmed=facts.claimed_cleared_at is not None and facts.ended_at is None,
        blocked_s=blocked,
    )
