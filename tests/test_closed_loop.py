"""Closing the loop: the escalation clock (pure rule and the job on SQLite and PostgreSQL), the police queue,
"lane cleared" claims, the ledger, repeat offenders, hotspots and heat maps, and property scoping.

Time is injected everywhere: the rule and the job take ``now``; the API's clock is patched to ``NOW``.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from closed_loop_world import CST, DETECT, NOW, T0, Seeded, escalate_and_decide, seed
from service.analytics import rebound_flags, repeat_offenders, split_by_day
from service.api.routes import closed_loop as closed_loop_routes
from service.closed_loop import LoopFacts, due_at, evaluate
from service.db.closed_loop import confirm_cleared_claims, escalate_overdue
from service.db.insights import hotspots
from service.db.models import Alert, AuditEntry, CameraState, OutboxMessage, Violation
from service.settings import Settings
from test_api import app, bearer, cheap_hashing, client, settings  # noqa: F401 - fixtures

MIN = timedelta(minutes=1)
ALERT = datetime(2026, 11, 2, 9, 3, tzinfo=CST)
LIMIT = 900.0


def facts(**overrides) -> LoopFacts:
    values = {"started_at": ALERT - DETECT, "violation_at": ALERT, "ended_at": None, "alerted_at": ALERT,
              "clear_limit_s": LIMIT}
    values.update(overrides)
    return LoopFacts(**values)


# --- the rule alone ---


def test_cleared_in_time() -> None:
    state = evaluate(facts(ended_at=ALERT + 10 * MIN, acknowledged_at=ALERT + 2 * MIN), ALERT + 60 * MIN)
    assert (state.state, state.status, state.escalate, state.escalated) == ("cleared_in_time", "cleared_in_time",
                                                                            False, False)
    assert state.due_at == ALERT + 15 * MIN
    assert (state.time_to_ack_s, state.time_to_clear_s) == (120.0, 600.0)
    assert state.blocked_s == 13 * 60.0
    # the limit is inclusive: clear exactly at the deadline is in time
    assert evaluate(facts(ended_at=ALERT + 15 * MIN), ALERT + 60 * MIN).state == "cleared_in_time"


def test_cleared_late_is_escalated_at_the_deadline() -> None:
    late = facts(ended_at=ALERT + 20 * MIN)
    state = evaluate(late, ALERT + 25 * MIN)
    assert (state.state, state.status, state.escalate) == ("cleared_late", "cleared_late", True)
    assert state.due_at == ALERT + 15 * MIN and state.time_to_clear_s == 1200.0
    stamped = evaluate(facts(ended_at=ALERT + 20 * MIN, escalated_at=ALERT + 15 * MIN), ALERT + 25 * MIN)
    assert (stamped.state, stamped.escalate, stamped.escalated) == ("cleared_late", False, True)


def test_never_cleared_escalates_at_alert_plus_limit() -> None:
    before = evaluate(facts(), ALERT + 15 * MIN - timedelta(seconds=1))
    assert (before.state, before.status, before.escalate) == ("awaiting", "open", False)
    at = evaluate(facts(), ALERT + 15 * MIN)
    assert (at.state, at.status, at.escalate, at.due_at) == ("escalated", "escalated", True, ALERT + 15 * MIN)
    assert at.time_to_clear_s is None and at.blocked_s == 18 * 60.0  # still blocked, counted to now
    after = evaluate(facts(escalated_at=ALERT + 15 * MIN), ALERT + 2 * 60 * MIN)
    assert (after.state, after.escalate, after.escalated) == ("escalated", False, True)  # stamped once only
    # a site with another limit
    assert evaluate(facts(clear_limit_s=600), ALERT + 10 * MIN).escalate


def test_rejected_by_police_after_escalation() -> None:
    state = evaluate(facts(escalated_at=ALERT + 15 * MIN, review_status="rejected"), ALERT + 60 * MIN)
    assert (state.state, state.status, state.escalate, state.escalated) == ("escalated", "rejected", False, True)
    confirmed = evaluate(facts(ended_at=ALERT + 40 * MIN, escalated_at=ALERT + 15 * MIN, review_status="confirmed"),
                         ALERT + 60 * MIN)
    assert (confirmed.state, confirmed.status) == ("cleared_late", "confirmed")
    # decided before the deadline: nothing left to escalate
    early = evaluate(facts(review_status="confirmed"), ALERT + 60 * MIN)
    assert (early.status, early.escalate, early.escalated) == ("confirmed", False, False)


def test_claim_without_the_camera_does_not_clear() -> None:
    claimed = evaluate(facts(claimed_cleared_at=ALERT + 5 * MIN), ALERT + 16 * MIN)
    assert (claimed.state, claimed.claim_unconfirmed, claimed.escalate) == ("escalated", True, True)
    confirmed = evaluate(facts(claimed_cleared_at=ALERT + 5 * MIN, ended_at=ALERT + 6 * MIN), ALERT + 16 * MIN)
    assert (confirmed.state, confirmed.claim_unconfirmed) == ("cleared_in_time", False)


def test_unalerted_violations_never_escalate() -> None:
    state = evaluate(facts(alerted_at=None), ALERT + 10 * 60 * MIN)
    assert (state.state, state.status, state.escalate, state.due_at) == ("unalerted", "open", False, None)
    assert evaluate(facts(alerted_at=None, ended_at=ALERT), ALERT + 60 * MIN).status == "ended"
    assert due_at(ALERT, 900) == ALERT + 15 * MIN


def test_rebound_after_rectification() -> None:
    day = timedelta(days=1)
    items = [
        ("A", T0, T0 + 10 * MIN),  # cleared
        ("A", T0 + 3 * day, T0 + 3 * day + MIN),  # 3 days after: a rebound
        ("A", T0 + 11 * day, None),  # 8 days after the last clearing: not within 7 days
        ("B", T0 + day, None),  # another zone: its first
        ("A", T0 + 5 * MIN, T0 + 20 * MIN),  # overlaps the first (two cars): the lane was never clear
    ]
    assert rebound_flags(items, timedelta(days=7)) == [False, True, False, False, False]
    assert rebound_flags([("A", T0, T0 + MIN), ("A", T0 + 7 * day + MIN, None)], timedelta(days=7)) == [False, True]


def test_split_by_day_and_repeat_offenders() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    split = split_by_day(datetime(2026, 11, 2, 23, 0, tzinfo=CST), datetime(2026, 11, 4, 0, 30, tzinfo=CST), tz)
    assert split == {date(2026, 11, 2): 3600.0, date(2026, 11, 3): 86400.0, date(2026, 11, 4): 1800.0}
    items = [("粤B1", T0), ("粤B1", T0 + timedelta(days=1)), ("粤B1", T0 - timedelta(days=40)), ("粤B2", T0),
             (None, T0), ("粤B1", T0 + timedelta(days=2))]
    found = repeat_offenders(items, lambda i: i[0], lambda i: i[1], min_count=3, since=T0 - timedelta(days=30),
                             until=T0 + timedelta(days=3))
    assert [(o.plate, o.count) for o in found] == [("粤B1", 3)]
    assert [o.plate for o in repeat_offenders(items, lambda i: i[0], lambda i: i[1], min_count=1,
                                              since=T0 - timedelta(days=30), until=T0 + timedelta(days=3))] == [
        "粤B1", "粤B2"]


# --- the job and the API on a seeded database (SQLite and PostgreSQL) ---


@pytest.fixture
def world(app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setattr(closed_loop_routes, "_utcnow", lambda: NOW)
    return seed(app.state.sessions, settings.evidence_root)


def _escalated(app: FastAPI) -> dict[str, datetime]:
    with app.state.sessions() as session:
        rows = session.execute(select(Alert.violation_id, Alert.escalated_at).where(Alert.escalated_at.is_not(None)))
        return {vid: at.astimezone(CST) for vid, at in rows}


def test_a_camera_that_stopped_watching_does_not_escalate_its_open_violation(world: Seeded, app: FastAPI) -> None:
    """a3 is still open; its camera's last checkpoint is 5 minutes old (the process died): no escalation on that.
    Once the camera checkpoints again (it is back and still sees the vehicle), the deadline stands as it was."""
    sessions = app.state.sessions
    with sessions.begin() as session:
        session.add(CameraState(camera_id="camA", state={"format": 1}, saved_at=NOW - 5 * MIN))
    with sessions.begin() as session:
        assert "a3" not in [a.violation_id for a in escalate_overdue(session, NOW)]
    with sessions.begin() as session:
        session.get_one(CameraState, "camA").saved_at = NOW - timedelta(seconds=10)
    with sessions.begin() as session:
        assert "a3" in [a.violation_id for a in escalate_overdue(session, NOW)]
    assert _escalated(app)["a3"] == world.alerted_at["a3"] + 15 * MIN


def test_escalate_overdue_job(world: Seeded, app: FastAPI) -> None:
    sessions = app.state.sessions
    b1 = world.alerted_at["b1"]  # tower-b: 10 minutes
    with sessions.begin() as session:
        assert escalate_overdue(session, b1 + 10 * MIN - timedelta(seconds=1)) == []
    with sessions.begin() as session:
        assert [a.violation_id for a in escalate_overdue(session, b1 + 10 * MIN)] == ["b1"]
    assert _escalated(app) == {"b1": b1 + 10 * MIN}

    with sessions.begin() as session:  # Friday evening: a2 (cleared late) and a3 (never cleared) too
        assert sorted(a.violation_id for a in escalate_overdue(session, NOW)) == ["a2", "a3"]
    with sessions.begin() as session:
        assert escalate_overdue(session, NOW + timedelta(hours=1)) == []  # once only
    assert _escalated(app) == {
        "b1": b1 + 10 * MIN,
        "a2": world.alerted_at["a2"] + 15 * MIN,  # the deadline, not when the job ran
        "a3": world.alerted_at["a3"] + 15 * MIN,
    }
    with sessions() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.escalate")).all()
        assert sorted(e.target for e in audit) == sorted(f"alert:{world.alerts[v]}" for v in ("a2", "a3", "b1"))
        a2 = next(e for e in audit if e.target == f"alert:{world.alerts['a2']}")
        assert a2.details["lane_still_occupied"] is False and a2.details["clear_limit_s"] == 900
        messages = session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == "violation-escalated:a3"))
        assert sorted((m.channel, m.topic, m.payload["event"]) for m in messages) == [
            ("mqtt", "firelane/garden-a/camA/escalations", "violation.escalated"),
            ("webhook", "firelane/garden-a/camA/escalations", "violation.escalated")]
        # never: cleared in time (a1, a4, b2), decided before (old), unregistered camera (x1, no alert)
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.escalated_at.is_not(None))) == 3


def test_police_queue_shows_escalated_first(world: Seeded, app: FastAPI, client: TestClient) -> None:
    police = bearer(client, "police")
    queue = client.get("/api/reviews/queue", headers=police).json()
    assert [v["id"] for v in queue] == ["x1", "b1", "a2", "a3"]  # nothing escalated yet: oldest first
    assert {v["escalated_at"] for v in queue} == {None} and not any(v["escalated"] for v in queue)

    escalated = escalate_and_decide(app.state.sessions, world, NOW)  # a2 confirmed and a3 rejected after it
    assert len(escalated) == 3
    queue = client.get("/api/reviews/queue", headers=police).json()
    assert [v["id"] for v in queue] == ["b1", "x1"]
    assert queue[0]["escalated"] and queue[0]["alert_id"] == world.alerts["b1"]
    assert datetime.fromisoformat(queue[0]["escalated_at"]) == world.alerted_at["b1"] + 10 * MIN
    assert (queue[1]["escalated_at"], queue[1]["alert_id"], queue[1]["site_id"]) == (None, None, None)
    only = client.get("/api/reviews/queue", params={"escalated_only": "true"}, headers=police).json()
    assert [v["id"] for v in only] == ["b1"]
    assert client.get("/api/reviews/queue", headers=bearer(client, "prop-a")).status_code == 403


def test_queue_orders_several_escalations_by_deadline(world: Seeded, app: FastAPI, client: TestClient) -> None:
    with app.state.sessions.begin() as session:
        escalate_overdue(session, NOW)
    queue = client.get("/api/reviews/queue", headers=bearer(client, "operator")).json()
    assert [v["id"] for v in queue] == ["b1", "a2", "a3", "x1"]
    assert [v["escalated"] for v in queue] == [True, True, True, False]


def test_lane_cleared_is_a_claim_until_the_camera_confirms(world: Seeded, app: FastAPI, client: TestClient) -> None:
    prop = bearer(client, "prop-b")
    alert = world.alerts["b1"]
    claimed = client.post(f"/api/alerts/{alert}/cleared", headers=prop).json()
    assert claimed["status"] == "open" and claimed["claimed_cleared_at"] and claimed["cleared_at"] is None
    with app.state.sessions.begin() as session:
        assert confirm_cleared_claims(session, NOW) == []  # the camera still sees the car
        assert sorted(a.violation_id for a in escalate_overdue(session, NOW)) == ["a2", "a3", "b1"]  # claim or not
    ended = world.alerted_at["b1"] + 30 * MIN
    with app.state.sessions.begin() as session:
        session.get_one(Violation, "b1").ended_at = ended
    with app.state.sessions.begin() as session:
        [confirmed] = confirm_cleared_claims(session, NOW)
    body = client.get(f"/api/alerts/{alert}", headers=prop).json()
    assert (body["status"], body["cleared_by"]) == ("cleared", world.users["prop-b"])
    assert datetime.fromisoformat(body["cleared_at"]) == datetime.fromisoformat(claimed["claimed_cleared_at"])
    ledger = client.get(f"/api/sites/{world.site_b}/ledger", headers=prop).json()
    b1 = next(r for r in ledger["rows"] if r["violation_id"] == "b1")
    assert (b1["status"], b1["time_to_clear_s"]) == ("cleared_late", 1800.0)
    assert b1["escalated_at"] is not None and b1["claimed_cleared_at"] is not None


def test_site_clear_limit_is_editable_by_operators(world: Seeded, client: TestClient) -> None:
    op, prop = bearer(client, "operator"), bearer(client, "prop-a")
    assert client.get(f"/api/sites/{world.site_a}", headers=prop).json()["clear_limit_s"] == 900
    assert client.patch(f"/api/sites/{world.site_a}", json={"clear_limit_s": 1800}, headers=prop).status_code == 403
    assert client.patch(f"/api/sites/{world.site_a}", json={"clear_limit_s": 30}, headers=op).status_code == 422
    assert client.patch(f"/api/sites/{world.site_a}", json={"clear_limit_s": None}, headers=op).status_code == 422
    assert client.patch(f"/api/sites/{world.site_a}", json={"clear_limit_s": 1800}, headers=op).json()[
        "clear_limit_s"] == 1800
    created = client.post("/api/sites", json={"code": "c", "name": "C区"}, headers=op).json()
    assert created["clear_limit_s"] == 900
    # a longer limit moves no deadline already sent: a2 (cleared 20 minutes after its alert) stays late
    rows = client.get(f"/api/sites/{world.site_a}/ledger", headers=prop).json()["rows"]
    a2 = next(r for r in rows if r["violation_id"] == "a2")
    assert a2["status"] == "cleared_late"
    assert datetime.fromisoformat(a2["due_at"]) == world.alerted_at["a2"] + 15 * MIN


# --- ledger ---


def test_ledger_json_csv_pdf(world: Seeded, app: FastAPI, client: TestClient) -> None:
    escalate_and_decide(app.state.sessions, world, NOW)
    prop = bearer(client, "prop-a")
    body = client.get(f"/api/sites/{world.site_a}/ledger", params={"since": "2026-11-02", "until": "2026-11-08"},
                      headers=prop).json()
    assert [r["violation_id"] for r in body["rows"]] == ["a1", "a2", "a3", "a4"]  # not old1/old2: before the week
    assert body["counts"] == {"confirmed": 3, "rejected": 1}
    everything = client.get(f"/api/sites/{world.site_a}/ledger", headers=prop).json()
    assert [r["violation_id"] for r in everything["rows"]] == ["old2", "old1", "a1", "a2", "a3", "a4"]

    response = client.get(f"/api/sites/{world.site_a}/ledger",
                          params={"since": "2026-11-02", "until": "2026-11-08", "format": "csv"}, headers=prop)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "ledger-garden-a-20261102-20261108.csv" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = {r["violation_id"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert list(rows) == ["a1", "a2", "a3", "a4"]
    a1, a2, a3, a4 = rows["a1"], rows["a2"], rows["a3"], rows["a4"]
    assert (a1["status"], a1["status_label"], a1["plate_text"]) == ("confirmed", "交警确认", "粤B11111")
    assert (a1["alerted_at"], a1["acknowledged_at"], a1["ended_at"], a1["due_at"]) == (
        "2026-11-02T09:03:00+08:00", "2026-11-02T09:05:00+08:00", "2026-11-02T09:13:00+08:00",
        "2026-11-02T09:18:00+08:00")
    assert (a1["time_to_ack_s"], a1["time_to_clear_s"], a1["blocked_s"], a1["escalated_at"]) == ("120", "600", "780", "")
    assert (a2["escalated_at"], a2["time_to_clear_s"], a2["review_status"]) == (
        "2026-11-03T09:18:00+08:00", "1200", "confirmed")
    assert (a3["status"], a3["ended_at"], a3["escalated_at"], a3["zone_name"]) == (
        "rejected", "", "2026-11-04T09:18:00+08:00", "南侧消防车通道")
    assert a3["blocked_s"] == str(57 * 3600)  # Wednesday 09:00 to Friday 18:00 (now)
    assert (a4["time_to_clear_s"], a4["time_to_ack_s"]) == ("300", "")

    pdf = client.get(f"/api/sites/{world.site_a}/ledger", params={"format": "pdf"}, headers=prop)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    with app.state.sessions() as session:
        exports = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "ledger.export")).all()
        assert [e["format"] for e in exports] == ["csv", "pdf"]
    bad = client.get(f"/api/sites/{world.site_a}/ledger", params={"since": "yesterday"}, headers=prop)
    assert bad.status_code == 422


# --- repeat offenders ---


def test_repeat_offenders_with_n_and_window(world: Seeded, app: FastAPI, client: TestClient) -> None:
    escalate_and_decide(app.state.sessions, world, NOW)  # a2 confirmed: 粤B11111 a third time
    police = bearer(client, "police")
    found = client.get("/api/offenders", params={"until": "2026-11-08"}, headers=police).json()
    assert (found["min_count"], found["window_days"]) == (3, 30)
    assert [(o["plate"], o["count"]) for o in found["offenders"]] == [("粤B11111", 3)]
    offender = found["offenders"][0]
    assert [v["violation_id"] for v in offender["violations"]] == ["a1", "a2", "a4"]
    assert offender["violations"][0]["detail_url"] == "/api/violations/a1"
    assert [e["url"] for e in offender["violations"][0]["evidence"]] == [
        "/api/violations/a1/evidence/01-begin.jpg", "/api/violations/a1/evidence/crop.jpg"]
    evidence = client.get(offender["violations"][0]["evidence"][0]["url"], headers=police)
    assert evidence.status_code == 200 and evidence.content.startswith(b"\xff\xd8")

    two = client.get("/api/offenders", params={"until": "2026-11-08", "min_count": 2}, headers=police).json()
    assert [(o["plate"], o["count"]) for o in two["offenders"]] == [("粤B11111", 3), ("粤B22222", 2)]  # not old2
    wide = client.get("/api/offenders", params={"until": "2026-11-08", "min_count": 2, "window_days": 60},
                      headers=police).json()
    assert [(o["plate"], o["count"]) for o in wide["offenders"]] == [("粤B11111", 3), ("粤B22222", 3)]
    narrow = client.get("/api/offenders", params={"until": "2026-11-08", "window_days": 3}, headers=police).json()
    assert narrow["offenders"] == []  # a1 (Monday) is more than 3 days before the end of Sunday
    site_b = client.get("/api/offenders", params={"until": "2026-11-08", "min_count": 1, "site_id": world.site_b},
                        headers=bearer(client, "operator")).json()
    assert [o["plate"] for o in site_b["offenders"]] == ["粤B22222"]
    assert client.get("/api/offenders", headers=bearer(client, "prop-a")).status_code == 403


def test_repeat_offenders_setting(app: FastAPI, settings: Settings, client: TestClient,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seed(app.state.sessions, settings.evidence_root)
    monkeypatch.setattr(app.state.settings, "repeat_offender_min", 2)
    found = client.get("/api/offenders", params={"until": "2026-11-08"}, headers=bearer(client, "police")).json()
    assert found["min_count"] == 2 and [o["plate"] for o in found["offenders"]] == ["粤B11111", "粤B22222"]


def test_machine_readings_are_suggestions_apart_and_a_correction_keeps_both(world: Seeded, app: FastAPI,
                                                                              client: TestClient) -> None:
    with app.state.sessions.begin() as session:  # what the plate reader voted on three pending violations
        for vid, read in (("a2", "粤B22222"), ("b1", "粤B22222"), ("a3", "京A99999")):
            violation = session.get(Violation, vid)
            violation.plate_read, violation.plate_read_confidence, violation.plate_read_colour = read, 0.9, "blue"
    police = bearer(client, "police")
    found = client.get("/api/offenders", params={"until": "2026-11-08"}, headers=police).json()
    assert found["offenders"] == []  # readings accuse nobody: 粤B11111 has 2 confirmed, 粤B22222 2
    # 粤B22222: 2 confirmed (b2, old1) + 2 read on unreviewed violations reach 3; 京A99999 (1) does not
    assert [(s["plate"], s["count"], s["confirmed_count"]) for s in found["suggestions"]] == [("粤B22222", 2, 2)]
    assert [v["violation_id"] for v in found["suggestions"][0]["violations"]] == ["b1", "a2"]
    assert found["suggestions"][0]["violations"][0]["plate_read_confidence"] == 0.9
    # one site: its readings against its confirmations only (a2 and old1 at garden-a, b1 and b2 at tower-b)
    for site, violation in ((world.site_a, "a2"), (world.site_b, "b1")):
        mine = client.get("/api/offenders", params={"until": "2026-11-08", "min_count": 2, "site_id": site},
                          headers=police).json()
        assert [(s["plate"], s["count"], s["confirmed_count"]) for s in mine["suggestions"]] == [("粤B22222", 1, 1)]
        assert [v["violation_id"] for v in mine["suggestions"][0]["violations"]] == [violation]
    # property staff see no plates, not even their own site's readings
    for params in ({}, {"site_id": world.site_a}):
        refused = client.get("/api/offenders", params=params, headers=bearer(client, "prop-a"))
        assert refused.status_code == 403 and "suggestions" not in refused.json()

    detail = client.get("/api/violations/a2", headers=police).json()
    assert (detail["plate_read"], detail["plate_read_confidence"], detail["plate_text"]) == ("粤B22222", 0.9, None)
    # the officer reads the evidence and corrects the machine: the confirmed plate counts, the reading stays
    assert client.post("/api/violations/a2/review", json={"decision": "confirmed", "plate_text": "粤B 11111"},
                       headers=police).status_code == 201
    detail = client.get("/api/violations/a2", headers=police).json()
    assert (detail["plate_read"], detail["plate_text"], detail["review_status"]) == ("粤B22222", "粤B11111", "confirmed")
    with app.state.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "review.confirm")).one()
        assert entry.details == {"plate_text": "粤B11111", "plate_read": "粤B22222", "corrected": True}
    found = client.get("/api/offenders", params={"until": "2026-11-08"}, headers=police).json()
    assert [(o["plate"], o["count"]) for o in found["offenders"]] == [("粤B11111", 3)]
    assert [(s["plate"], s["count"], s["confirmed_count"]) for s in found["suggestions"]] == [("粤B22222", 1, 2)]


# --- hotspots ---


def test_hotspot_ranking_and_blocked_minutes(world: Seeded, app: FastAPI, client: TestClient) -> None:
    escalate_and_decide(app.state.sessions, world, NOW)
    week = {"since": "2026-11-02", "until": "2026-11-08"}
    body = client.get("/api/hotspots", params=week, headers=bearer(client, "police")).json()
    # a1 13 + a2 23 + a3 3420 (still there) + a4 8 | b1 6060 (still there) + b2 11 | x1 63 (unregistered)
    assert body["total"] == {"violations": 7, "blocked_minutes": 9598.0, "rebounds": 2, "escalations": 3}
    assert [(s["rank"], s["site_code"], s["violations"], s["blocked_minutes"], s["rebounds"], s["escalations"])
            for s in body["sites"]] == [(1, "garden-a", 4, 3464.0, 2, 2), (2, "tower-b", 2, 6071.0, 0, 1)]
    assert [(z["camera_id"], z["zone_id"], z["violations"], z["blocked_minutes"], z["rebounds"])
            for z in body["zones"]] == [("camA", "lane-a", 3, 44.0, 2), ("camB", "lane-a", 2, 6071.0, 0),
                                        ("camA", "lane-b", 1, 3420.0, 0), ("camX", "lane-a", 1, 63.0, 0)]
    assert [(c["camera_id"], c["violations"]) for c in body["cameras"]] == [("camA", 4), ("camB", 2), ("camX", 1)]
    assert body["cameras"][0]["heatmap_url"].startswith("/api/cameras/camA/heatmap.png?since=")
    daily = {d["day"]: d["blocked_minutes"] for d in body["daily"]}
    assert len(daily) == 7 and daily["2026-11-08"] == 0.0
    assert daily["2026-11-02"] == 13 + 660 + 63  # a1, b1 from 13:00 to midnight, x1
    assert daily["2026-11-06"] == 18 * 60 * 2  # a3 and b1 until now (Friday 18:00)
    assert sum(daily.values()) == pytest.approx(9598.0)

    # property staff: their site only, and 404 for another one
    prop = bearer(client, "prop-b")
    mine = client.get("/api/hotspots", params=week, headers=prop).json()
    assert [s["site_code"] for s in mine["sites"]] == ["tower-b"]
    assert [c["camera_id"] for c in mine["cameras"]] == ["camB"]
    assert mine["total"]["violations"] == 2
    assert client.get("/api/hotspots", params={**week, "site_id": world.site_a}, headers=prop).status_code == 404

    png = client.get(body["chart_url"], headers=prop)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = client.get("/api/hotspots/blocked-minutes.svg", params=week, headers=prop)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content


def test_rebound_counted_with_violations_before_the_period(world: Seeded, app: FastAPI) -> None:
    """a1 (Monday) follows old1 by 20 days: not a rebound; a2 and a4 follow a1 and a2 within days: rebounds."""
    tz = ZoneInfo("Asia/Shanghai")
    with app.state.sessions() as session:
        spots = hotspots(session, since=T0, until=T0 + timedelta(days=7), now=NOW, tz=tz,
                         rebound_window=timedelta(days=7), site_id=world.site_a)
        flags = {f.violation.id: r for f, r in zip(spots.facts, spots.rebounds)}
        assert flags == {"a1": False, "a2": True, "a3": False, "a4": True}
        wide = hotspots(session, since=T0, until=T0 + timedelta(days=7), now=NOW, tz=tz,
                        rebound_window=timedelta(days=21), site_id=world.site_a)
        assert wide.total.rebounds == 3  # now old1 (ended 20 days before a1) counts


def test_heatmap_png(world: Seeded, client: TestClient, settings: Settings) -> None:
    police = bearer(client, "police")
    params = {"since": "2026-11-02", "until": "2026-11-08"}
    response = client.get("/api/cameras/camA/heatmap.png", params=params, headers=police)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (720, 1280, 3)  # the zone file's frame size: no snapshot yet
    grey = np.array([96, 96, 96])
    feet = image[640, 300]  # inside the footprint band (bottom 30 %) of a1, a2 and a4
    top = image[460, 300]  # inside the boxes but above their footprints
    assert np.abs(feet.astype(int) - grey).sum() > 60 and feet[2] > feet[0]  # hot: red over blue
    assert np.abs(top.astype(int) - grey).sum() < 10
    assert tuple(image[400, 650]) == (255, 255, 255)  # lane-a's outline

    snapshots = settings.out_dir / "snapshots"
    snapshots.mkdir(parents=True)
    cv2.imwrite(str(snapshots / "camA.jpg"), np.full((360, 640, 3), 30, np.uint8))  # a half-size sub-stream
    on_snapshot = cv2.imdecode(np.frombuffer(client.get("/api/cameras/camA/heatmap.png", params=params,
                                                        headers=police).content, np.uint8), cv2.IMREAD_COLOR)
    assert on_snapshot.shape == (360, 640, 3)
    assert client.get("/api/cameras/camB/heatmap.png", headers=bearer(client, "prop-a")).status_code == 404
    assert client.get("/api/cameras/camA/heatmap.png", headers=bearer(client, "prop-a")).status_code == 200
    assert client.get("/api/cameras/camB/heatmap.png", headers=bearer(client, "prop-b")).status_code == 200


def test_property_sees_only_its_site(world: Seeded, client: TestClient) -> None:
    prop = bearer(client, "prop-a")
    for url in (f"/api/sites/{world.site_b}/ledger", f"/api/sites/{world.site_b}/ledger?format=csv",
                f"/api/sites/{world.site_b}/ledger?format=pdf", "/api/cameras/camB/heatmap.png",
                "/api/cameras/camX/heatmap.png", f"/api/hotspots?site_id={world.site_b}",
                f"/api/hotspots/blocked-minutes.png?site_id={world.site_b}", "/api/sites/999/ledger"):
        assert client.get(url, headers=prop).status_code == 404, url
    assert client.get(f"/api/sites/{world.site_a}/ledger", headers=prop).status_code == 200
    assert client.post("/api/reports/weekly", json={"week": "2026-W45", "site_id": world.site_b},
                       headers=prop).status_code == 404
    assert client.get("/api/offenders", headers=prop).status_code == 403
    for who in ("police", "operator"):
        headers = bearer(client, who)
        assert client.get(f"/api/sites/{world.site_b}/ledger", headers=headers).status_code == 200
        assert client.get("/api/cameras/camX/heatmap.png", headers=headers).status_code == 200
    assert client.get(f"/api/sites/{world.site_a}/ledger").status_code == 401


def test_migration_0003_keeps_sites_and_alerts(db_url: str) -> None:
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect, text

    from service.db.session import downgrade, make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO sites (code, name) VALUES ('s', 'S')"))
    upgrade(engine, "0003")
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0003"
        assert connection.execute(text("SELECT clear_limit_s FROM sites")).scalar() == 900
    columns = {c["name"] for c in inspect(engine).get_columns("alerts")}
    assert {"escalated_at", "claimed_cleared_at", "claimed_cleared_by"} <= columns
    downgrade(engine, "0002")
    assert "escalated_at" not in {c["name"] for c in inspect(engine).get_columns("alerts")}
    assert "clear_limit_s" not in {c["name"] for c in inspect(engine).get_columns("sites")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT code FROM sites")).scalars().all() == ["s"]
    engine.dispose()


def test_job_timezones_are_utc_safe() -> None:
    """The same instant in another zone gives the same answer."""
    utc = evaluate(facts(), (ALERT + 15 * MIN).astimezone(timezone.utc))
    assert utc.escalate and utc.due_at == ALERT + 15 * MIN


def test_settings_defaults() -> None:
    s = Settings(_env_file=None)
    assert (s.repeat_offender_min, s.repeat_offender_window_days, s.rebound_window_days) == (3, 30, 7.0)
    assert (s.report_weekday, s.report_time, s.report_timezone, s.escalation_interval_s) == (
        4, "18:00", "Asia/Shanghai", 30.0)
    with pytest.raises(ValueError):
        Settings(_env_file=None, report_timezone="Mars/Olympus")



def test_escalation_loop_runs_the_job_on_the_injected_clock(world: Seeded, app: FastAPI) -> None:
    """What ``firelane serve`` runs every 30 s: one pass confirms claims and escalates, errors do not stop it."""
    import threading

    from service import jobs

    waits: list[float] = []

    class OnePass(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            self.set()
            return True

    jobs.escalation_loop(app.state.sessions, OnePass(), interval_s=30, clock=lambda: NOW)
    assert waits == [30] and sorted(_escalated(app)) == ["a2", "a3", "b1"]

    def broken() -> datetime:
        raise RuntimeError("clock broke")

    jobs.escalation_loop(app.state.sessions, OnePass(), interval_s=5, clock=broken)  # logged, not raised
    assert waits == [30, 5]


def test_ledger_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    from service.reports.ledger import spreadsheet_safe

    assert spreadsheet_safe('=HYPERLINK("http://x","点我")') == '\'=HYPERLINK("http://x","点我")'
    assert [spreadsheet_safe(v) for v in ("+1", "-1+2", "@SUM(A1)", "\tx")] == ["'+1", "'-1+2", "'@SUM(A1)", "'\tx"]
    assert spreadsheet_safe("北侧消防车通道") == "北侧消防车通道" and spreadsheet_safe("") == ""


# --- alert states that follow the vehicle ---


def test_deadline_is_fixed_when_the_alert_is_sent(world: Seeded, app: FastAPI, client: TestClient) -> None:
    """A site's new clear limit applies to alerts sent after the change; those sent before keep their deadline."""
    from service.db.alerts import enqueue_violation_alert
    from service.db.closed_loop import run_closed_loop
    from service.db.violations import upsert_violation

    op, prop = bearer(client, "operator"), bearer(client, "prop-b")
    assert client.patch(f"/api/sites/{world.site_b}", json={"clear_limit_s": 1800}, headers=op).status_code == 200
    board = {a["violation_id"]: a for a in client.get("/api/board/alerts", headers=prop).json()}
    assert datetime.fromisoformat(board["b1"]["due_at"]) == world.alerted_at["b1"] + 10 * MIN  # sent with 600 s
    with app.state.sessions.begin() as session:
        escalated = {a.violation_id: a.escalated_at for a in escalate_overdue(session, NOW)}
    assert escalated["b1"] == world.alerted_at["b1"] + 10 * MIN

    sent = NOW - 20 * MIN  # a new occupation, alerted after the change: 30 minutes
    with app.state.sessions.begin() as session:
        violation = upsert_violation(session, {
            "id": "b9", "camera_id": "camB", "camera_name": "北门", "zone_id": "lane-a", "zone_name": "北侧消防车通道",
            "zone_kind": "fire_lane", "object_class": "car", "category": "vehicle", "started_at": sent - DETECT,
            "violation_at": sent, "ended_at": None, "duration_s": 0.0, "box": [1, 1, 2, 2], "tracker_ids": [1],
            "evidence_dir": "camB/b9", "manifest_sha256": None, "source": "rtsp://x/y"})
        alert = enqueue_violation_alert(session, violation, now=sent)
        assert alert is not None and alert.due_at == sent + 30 * MIN
    with app.state.sessions.begin() as session:
        assert "b9" not in {a.violation_id for a in run_closed_loop(session, NOW).escalated}  # 20 of 30 minutes
    with app.state.sessions.begin() as session:
        [late] = [a for a in run_closed_loop(session, sent + 31 * MIN).escalated if a.violation_id == "b9"]
        assert late.escalated_at == sent + 30 * MIN
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.escalate",
                                                         AuditEntry.target == f"alert:{late.id}")).one()
        assert audit.details["clear_limit_s"] == 1800


def test_vehicle_left_before_anyone_acted(world: Seeded, app: FastAPI, client: TestClient) -> None:
    """Open alerts whose vehicle the camera saw leave are closed as left; acknowledged or claimed ones are not."""
    from service.db.closed_loop import run_closed_loop

    prop = bearer(client, "prop-a")
    with app.state.sessions.begin() as session:
        done = run_closed_loop(session, NOW)
    assert sorted(a.violation_id for a in done.left) == ["a4", "b2", "old1", "old2"]  # a1, a2 were acknowledged
    with app.state.sessions() as session:
        a4 = session.get_one(Alert, world.alerts["a4"])
        assert (a4.status, a4.cleared_at, a4.cleared_by) == ("left", session.get_one(Violation, "a4").ended_at, None)
        assert session.get_one(Alert, world.alerts["a1"]).status == "acknowledged"
        actions = session.scalars(select(AuditEntry.target).where(AuditEntry.action == "alert.vehicle_left")).all()
        assert sorted(actions) == sorted(f"alert:{world.alerts[v]}" for v in ("a4", "b2", "old1", "old2"))
    pending = {a["violation_id"] for a in client.get("/api/board/alerts", headers=prop).json()}
    assert pending == {"a1", "a2", "a3"}  # nothing left behind for property staff
    left = client.get("/api/board/alerts", params={"status": "left"}, headers=prop).json()
    assert {a["violation_id"]: a["status"] for a in left} == {"a4": "left", "old1": "left", "old2": "left"}
    assert client.post(f"/api/alerts/{world.alerts['a4']}/ack", headers=prop).status_code == 409
    assert client.post(f"/api/alerts/{world.alerts['a4']}/cleared", headers=prop).status_code == 409
    with app.state.sessions.begin() as session:
        assert run_closed_loop(session, NOW).left == []  # once


def test_migration_0010_backfills_deadlines_and_folds_left_back(db_url: str, tmp_path) -> None:  # noqa: ANN001
    from sqlalchemy import inspect, text

    from service.db.session import downgrade, make_engine, session_factory, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    world = seed(session_factory(engine), tmp_path / "evidence")
    with session_factory(engine).begin() as session:
        session.get_one(Alert, world.alerts["a4"]).status = "left"
    downgrade(engine, "0009")  # just before the deadlines were kept
    assert "due_at" not in {c["name"] for c in inspect(engine).get_columns("alerts")}
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT status FROM alerts WHERE id = {world.alerts['a4']}")).scalar() == \
            "cleared"
    upgrade(engine)
    with session_factory(engine)() as session:
        alerts = {a.violation_id: a for a in session.scalars(select(Alert))}
        assert alerts["b1"].due_at == world.alerted_at["b1"] + 10 * MIN  # tower-b: 600 s
        assert alerts["a3"].due_at == world.alerted_at["a3"] + 15 * MIN
        alerts["a3"].status = "left"
        session.commit()
    engine.dispose()
