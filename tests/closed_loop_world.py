"""Seeded facts for the closed-loop tests (escalation, ledger, hotspots, offenders, weekly report, pages).

Week 2026-W45 (Monday 2 November 2026, Beijing time). Each violation is detected 3 minutes after it starts
and alerted at that moment. ``NOW`` is Friday 6 November 18:00, when the scheduled report runs.

site garden-a (花园A区, limit 15 min), camera camA:
  a1  lane-a  Mon 09:00  acknowledged +2 min, camera saw it clear 10 min after the alert  → cleared in time
                         confirmed 粤B11111
  a2  lane-a  Tue 09:00  cleared 20 min after the alert → cleared late, escalated at alert + 15 min
                         (confirmed 粤B11111 after the escalation, by ``escalate_and_decide``)
  a3  lane-b  Wed 09:00  still there → escalated at alert + 15 min (rejected after it, ``escalate_and_decide``)
  a4  lane-a  Thu 09:00  cleared 5 min after the alert → in time; confirmed 粤B11111 (3rd: a repeat offender)
  old lane-a  20 and 40 days before a1, 10 min each, confirmed 粤B22222
site tower-b (B座, limit 10 min), camera camB:
  b1  lane-a  Mon 13:00  still there → escalated at alert + 10 min; pending
  b2  lane-a  Tue 11:00  cleared 8 min after the alert → in time; confirmed 粤B22222
camera camX (not registered to any site, so no alert):
  x1  lane-a  Mon 09:30  ended 60 min after detection; pending, never escalated
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.api.security import hash_password
from service.db.alerts import enqueue_violation_alert
from service.db.closed_loop import escalate_overdue
from service.db.models import Alert, Camera, Site, User, ZoneVersion
from service.db.reviews import decide
from service.db.violations import replace_evidence, upsert_violation

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=CST)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=CST)
NOW = datetime(2026, 11, 6, 18, 0, tzinfo=CST)
WEEK = "2026-W45"
PASSWORD = "correct horse battery"
DETECT = timedelta(minutes=3)
ZONES_A = {
    "camera_id": "camA", "camera_name": "东门", "frame_size": [1280, 720],
    "zones": [{"id": "lane-a", "name": "北侧消防车通道", "polygon": [[100, 400], [1200, 400], [1260, 700], [40, 700]]},
              {"id": "lane-b", "name": "南侧消防车通道", "polygon": [[100, 100], [600, 100], [600, 300], [100, 300]]}],
}


@dataclass
class Seeded:
    site_a: int = 0
    site_b: int = 0
    users: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    alerted_at: dict[str, datetime] = field(default_factory=dict)


def _violation(vid: str, camera: str, zone: str, zone_name: str, start: datetime, ended: datetime | None,
               box: list[float]) -> dict[str, Any]:
    return {
        "id": vid, "camera_id": camera, "camera_name": {"camA": "东门", "camB": "北门"}.get(camera, camera),
        "zone_id": zone, "zone_name": zone_name, "zone_kind": "fire_lane", "object_class": "car",
        "category": "vehicle", "started_at": start, "violation_at": start + DETECT, "ended_at": ended,
        "duration_s": ((ended or start + DETECT) - start).total_seconds(), "box": box, "tracker_ids": [1],
        "evidence_dir": f"{camera}/{start:%Y-%m-%d}/{vid}", "manifest_sha256": None,
        "source": "rtsp://admin:pw@10.0.0.1/stream",
    }


def _evidence(root: Path, fields: dict[str, Any]) -> list[dict[str, Any]]:
    folder = root / fields["evidence_dir"]
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, role in (("01-begin.jpg", "begin"), ("crop.jpg", "crop")):
        data = b"\xff\xd8" + f"{role} {fields['id']}".encode()
        (folder / name).write_bytes(data)
        rows.append({"name": name, "role": role, "media_type": "image/jpeg", "sha256": "0" * 64,
                     "bytes": len(data), "captured_at": fields["started_at"]})
    return rows


# clear width left beside the occupant (calibrated zones only) and its severity against the 4.0 m minimum
CLEAR_WIDTHS = {"a1": (4.6, "narrowed"), "a3": (2.3, "blocked")}


def seed(sessions: sessionmaker[Session], evidence_root: Path) -> Seeded:
    """Sites, cameras, users of every role and the violations above (reviews of a1, a4, b2, old included)."""
    out = Seeded()
    day = timedelta(days=1)
    minute = timedelta(minutes=1)
    with sessions.begin() as session:
        site_a = Site(code="garden-a", name="花园A区")
        site_b = Site(code="tower-b", name="B座", clear_limit_s=600)
        session.add_all([site_a, site_b])
        session.flush()
        out.site_a, out.site_b = site_a.id, site_b.id
        session.add_all([
            Camera(id="camA", site_id=site_a.id, name="东门", source_url="rtsp://u:p@10.0.0.1/a"),
            Camera(id="camB", site_id=site_b.id, name="北门", source_url="rtsp://u:p@10.0.0.2/b"),
        ])
        session.flush()
        session.add(ZoneVersion(camera_id="camA", version=1, document=ZONES_A))
        hashed = hash_password(PASSWORD)
        for username, role, site in (("prop-a", "property", site_a.id), ("prop-b", "property", site_b.id),
                                     ("police", "police", None), ("operator", "operator", None)):
            user = User(username=username, password_hash=hashed, role=role, site_id=site)
            session.add(user)
            session.flush()
            out.users[username] = user.id

        def alerted(start: datetime) -> datetime:
            return start + DETECT

        specs = [
            # id, camera, zone, zone name, start, minutes from alert to the end (None: still there), box
            ("a1", "camA", "lane-a", "北侧消防车通道", T0, 10, [200, 450, 400, 650]),
            ("a2", "camA", "lane-a", "北侧消防车通道", T0 + day, 20, [220, 460, 420, 660]),
            ("a3", "camA", "lane-b", "南侧消防车通道", T0 + 2 * day, None, [150, 120, 350, 280]),
            ("a4", "camA", "lane-a", "北侧消防车通道", T0 + 3 * day, 5, [240, 440, 440, 640]),
            ("b1", "camB", "lane-a", "北侧消防车通道", T0 + timedelta(hours=4), None, [100, 100, 300, 300]),
            ("b2", "camB", "lane-a", "北侧消防车通道", T0 + day + timedelta(hours=2), 8, [100, 100, 300, 300]),
            ("x1", "camX", "lane-a", "北侧消防车通道", T0 + 30 * minute, 60, [10, 10, 50, 50]),
            ("old1", "camA", "lane-a", "北侧消防车通道", T0 - 20 * day, 7, [200, 450, 400, 650]),
            ("old2", "camA", "lane-a", "北侧消防车通道", T0 - 40 * day, 7, [200, 450, 400, 650]),
        ]
        for vid, camera, zone, name, start, clear_min, box in specs:
            ended = alerted(start) + clear_min * minute if clear_min is not None else None
            fields = _violation(vid, camera, zone, name, start, ended, box)
            violation = upsert_violation(session, fields)
            violation.clear_width_m, violation.severity = CLEAR_WIDTHS.get(vid, (None, None))
            replace_evidence(session, vid, _evidence(evidence_root, fields))
            alert = enqueue_violation_alert(session, violation, now=alerted(start))
            if alert is not None:
                out.alerts[vid] = alert.id
                out.alerted_at[vid] = alerted(start)
        session.flush()
        alerts = {vid: session.get_one(Alert, aid)
                  for vid, aid in out.alerts.items()}
        alerts["a1"].status, alerts["a1"].acknowledged_at = "acknowledged", alerted(T0) + 2 * minute
        alerts["a1"].acknowledged_by = out.users["prop-a"]
        alerts["a2"].status, alerts["a2"].acknowledged_at = "acknowledged", alerted(T0 + day) + 5 * minute
        alerts["a2"].acknowledged_by = out.users["prop-a"]
        police = out.users["police"]
        for vid, plate in (("a1", "粤B11111"), ("a4", "粤B11111"), ("b2", "粤B22222"), ("old1", "粤B22222"),
                           ("old2", "粤B22222")):
            decide(session, vid, police, "confirmed", plate_text=plate)
    return out


def escalate_and_decide(sessions: sessionmaker[Session], world: Seeded, now: datetime = NOW) -> list[int]:
    """Run the escalation job at ``now``, then the police confirm a2 and reject a3 (both escalated by then)."""
    with sessions.begin() as session:
        escalated = [a.id for a in escalate_overdue(session, now)]
    with sessions.begin() as session:
        decide(session, "a2", world.users["police"], "confirmed", plate_text="粤B11111")
        decide(session, "a3", world.users["police"], "rejected", reason="占道施工车辆，已报备")
    return escalated
