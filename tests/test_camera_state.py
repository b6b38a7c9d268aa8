"""Durable camera state in process: a camera that dies mid-violation resumes it, a camera that was away too long
ends it at its last sighting, the spool keeps saves while the database is away, and a full disk costs evidence
files, never the violation. Real databases (SQLite, PostgreSQL), real files; the detector is scripted."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select

from detector.detections import Detections
from detector.sources import Frame
from service.camera.pipeline import CameraPipeline
from test_appearance import Thing, pavement
from service.camera.spool import RetryLater, Spool
from service.camera.store import DatabaseStore, DatabaseUnavailable
from service.db.models import Alert, CameraState, Camera, OutboxMessage, Site, Violation
from service.db.session import make_engine, session_factory
from service.evidence import verify_manifest
from zones.config import parse_zones

pytest_plugins = ["faultkit"]  # fresh_pg_url

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=TZ)
PARKED = (300.0, 330.0, 520.0, 470.0)
CAMERA = parse_zones({
    "camera_id": "gate-3", "camera_name": "3号门", "frame_size": [960, 540],
    "zones": [{"id": "lane-1", "name": "北侧消防车通道", "polygon": [[142, 335], [818, 335], [926, 500], [34, 500]],
               "grace_s": 20, "leave_s": 10}],
})


class ScriptedDetector:
    """Sees a car at ``PARKED`` while ``present`` is true: the scene, without a model."""

    name = "scripted"
    class_names = ["car"]

    def __init__(self) -> None:
        self.present = True

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        if not self.present:
            return Detections.empty()
        return Detections([PARKED], [0.9], ["car"], ["vehicle"])


def frames(start_s: float, end_s: float, fps: float = 2.0):
    image = np.full((540, 960, 3), 90, np.uint8)
    for i in range(int((end_s - start_s) * fps)):
        yield Frame(image, T0 + timedelta(seconds=start_s + i / fps), i)


def pipeline(tmp_path: Path, store: DatabaseStore, detector: ScriptedDetector) -> CameraPipeline:
    return CameraPipeline(CAMERA, detector, tmp_path / "evidence", [store], "stream test", sample_fps=2.0,
                          clip_pre_s=1.0, clip_post_s=1.0, gate_max_skip_s=None, state_store=store,
                          latest_every_s=5.0, keep_settled=False)


@pytest.fixture
def registered(engine):
    """The camera belongs to a site, so its violations raise alerts and outbox messages."""
    with session_factory(engine).begin() as session:
        site = Site(code="garden", name="花园小区")
        session.add(site)
        session.flush()
        session.add(Camera(id="gate-3", site_id=site.id, name="3号门", source_url="rtsp://example/stream"))
    return engine


def rows(engine, model):
    with session_factory(engine)() as session:
        return list(session.scalars(select(model)))


def test_a_camera_killed_mid_violation_resumes_it_under_the_same_id(tmp_path, registered):
    store = DatabaseStore(engine=registered, spool=Spool(tmp_path / "spool" / "gate-3"))
    detector = ScriptedDetector()
    first = pipeline(tmp_path, store, detector)
    for frame in frames(0, 30):
        first.process(frame)
    [violation] = rows(registered, Violation)
    assert violation.ended_at is None
    # the process dies here: no finish(), no goodbye; a new process builds a new pipeline from the database
    second = pipeline(tmp_path, DatabaseStore(engine=registered, spool=Spool(tmp_path / "spool" / "gate-3")), detector)
    for frame in frames(33, 50):  # back 3 s later (< leave_s): the car is still there
        second.process(frame)
    assert [r.id for r in second.open_violations] == [violation.id]
    detector.present = False
    for frame in frames(50, 65):
        second.process(frame)
    [violation] = rows(registered, Violation)
    assert violation.ended_at == T0 + timedelta(seconds=49.5), "ended at its last sighting"
    folder = tmp_path / "evidence" / violation.evidence_dir
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["violation"]["final"] is True and manifest["violation"]["ended_at"] is not None
    assert {"01-begin.jpg", "02-grace.jpg", "03-last.jpg"} <= {f["name"] for f in manifest["files"]}
    assert len(rows(registered, Alert)) == 1
    assert sorted(m.channel for m in rows(registered, OutboxMessage)) == ["mqtt", "webhook"], "one alert per channel"
    [state] = rows(registered, CameraState)
    assert state.state["violations"] == [] and state.state["engine"]["zones"]["lane-1"]["occupants"] == []


def test_a_camera_away_longer_than_leave_s_ends_the_violation_at_its_last_sighting(tmp_path, registered):
    store = DatabaseStore(engine=registered, spool=Spool(tmp_path / "spool" / "gate-3"))
    detector = ScriptedDetector()
    first = pipeline(tmp_path, store, detector)
    for frame in frames(0, 40):
        first.process(frame)
    second = pipeline(tmp_path, store, detector)
    for frame in frames(100, 125):  # 60 s later: the car may have left and come back; nobody can say
        second.process(frame)
    old, new = sorted(rows(registered, Violation), key=lambda v: v.started_at)
    # its last sighting as checkpointed: the process died up to checkpoint_every_s (2 s) after it
    assert T0 + timedelta(seconds=37.5) <= old.ended_at <= T0 + timedelta(seconds=39.5)
    folder = tmp_path / "evidence" / old.evidence_dir
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["violation"]["final"] is True and verify_manifest(folder) == []
    assert "03-latest.jpg" in {f["name"] for f in manifest["files"]}, "its latest still, written while it went on"
    assert new.started_at == T0 + timedelta(seconds=100), "what stands there now is counted afresh"


def test_a_waiting_occupant_keeps_its_begin_still_across_a_restart(tmp_path, engine):
    store = DatabaseStore(engine=engine, spool=Spool(tmp_path / "spool" / "gate-3"))
    detector = ScriptedDetector()
    first = pipeline(tmp_path, store, detector)
    for frame in frames(0, 12):  # resting 12 s of its 20 s grace time
        first.process(frame)
    second = pipeline(tmp_path, store, detector)
    for frame in frames(13, 30):
        second.process(frame)
    with session_factory(engine)() as session:
        [violation] = session.scalars(select(Violation)).all()
        assert violation.started_at == T0, "the dwell counts from when it came to rest, before the restart"
        begin = next(f for f in violation.evidence if f.name == "01-begin.jpg")
        assert begin.captured_at == T0, "its begin still is the frame it came to rest in"


def test_saves_wait_in_the_spool_while_the_database_is_away_and_arrive_once_in_order(tmp_path, registered):
    spool = Spool(tmp_path / "spool" / "gate-3")
    store = DatabaseStore(engine=registered, spool=spool, retry_s=(0.0, 0.0))
    detector = ScriptedDetector()
    camera = pipeline(tmp_path, store, detector)
    camera.process(next(frames(0, 1)))  # started with the database there (it has no state for this camera)
    away = make_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")  # nothing listens on port 1
    store.sessions = session_factory(away)
    for frame in frames(0.5, 30):
        camera.process(frame)
    detector.present = False
    for frame in frames(30, 45):
        camera.process(frame)
    assert rows(registered, Violation) == [] and store.pending > 0
    kinds = [entry.kind for entry in spool.pending()]
    assert "violation" in kinds and "checkpoint" in kinds

    store.sessions = session_factory(registered)  # the database is back
    assert store.flush(force=True) > 0 and store.pending == 0
    [violation] = rows(registered, Violation)
    assert violation.ended_at == T0 + timedelta(seconds=29.5), "the final state, not an intermediate one"
    assert len(rows(registered, Alert)) == 1 and len(rows(registered, OutboxMessage)) == 2
    store.flush(force=True)  # applying again (a crash between commit and unlink) changes nothing
    with session_factory(registered)() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_resume_refuses_to_guess_when_the_database_cannot_be_asked(tmp_path):
    store = DatabaseStore(engine=make_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"),
                          spool=Spool(tmp_path / "spool" / "gate-3"))
    camera = pipeline(tmp_path, store, ScriptedDetector())
    with pytest.raises(DatabaseUnavailable):
        camera.process(next(frames(0, 1)))


def test_a_bad_spool_entry_is_set_aside_with_its_reason_and_does_not_block_the_rest(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("violation", "a", {"n": 1})
    spool.append("checkpoint", "cam", {"n": 2})
    (spool.folder / "000000000099.json").write_text("{not json", encoding="utf-8")
    seen = []

    def apply(entry):
        if entry.kind == "violation":
            raise ValueError("constraint says no")
        seen.append(entry.payload)

    assert spool.drain(apply) == 1 and seen == [{"n": 2}]
    assert spool.pending() == []
    reasons = sorted(p.name for p in spool.rejected.glob("*.reason.txt"))
    assert len(reasons) == 2
    # an entry that must wait stays, and so does everything after it
    spool.append("violation", "b", {"n": 3})
    spool.append("violation", "c", {"n": 4})
    assert spool.drain(lambda entry: (_ for _ in ()).throw(RetryLater())) == 0
    assert [e.key for e in spool.pending()] == ["b", "c"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_costs_evidence_files_never_the_violation(tmp_path, registered):
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("tmpfs mount not permitted here")
    try:
        store = DatabaseStore(engine=registered, spool=Spool(mount / "spool"))
        detector = ScriptedDetector()
        camera = CameraPipeline(CAMERA, detector, mount / "evidence", [store], "stream test", sample_fps=2.0,
                                gate_max_skip_s=None, state_store=store, keep_settled=True)
        with open(mount / "filler", "wb") as filler:  # leave about 40 KiB: the first still fits, little else
            try:
                filler.write(b"\0" * (400 * 1024 - 40 * 1024))
            except OSError:
                pass
        for frame in frames(0, 30):
            camera.process(frame)
        detector.present = False
        for frame in frames(30, 45):
            camera.process(frame)
        [violation] = rows(registered, Violation)
        assert violation.evidence_complete is False and "No space left" in violation.evidence_problem
        assert violation.ended_at == T0 + timedelta(seconds=29.5)
        assert len(rows(registered, Alert)) == 1, "the alert went out all the same"
        assert not list(mount.rglob("*.partial*")), "nothing half-written is left behind"
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_migration_0004_keeps_violations_and_marks_old_evidence_complete(db_url):
    from sqlalchemy import inspect, text

    from service.db.session import downgrade, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO violations (id, camera_id, zone_id, zone_name, zone_kind, object_class, category, started_at,"
            " violation_at, duration_s, box, tracker_ids, evidence_dir, source) VALUES ('old', 'c', 'z', 'Z',"
            " 'fire_lane', 'car', 'vehicle', '2026-11-01 01:00:00', '2026-11-01 01:01:00', 60, '[0,0,1,1]', '[]',"
            " 'c/old', 'test')"))
    upgrade(engine)
    assert "camera_states" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        row = connection.execute(text("SELECT evidence_complete, evidence_problem, last_seen_at FROM violations"))
        assert tuple(row.one()) == (True, None, None)
    downgrade(engine, "0003")
    assert "camera_states" not in inspect(engine).get_table_names()
    assert "evidence_complete" not in {c["name"] for c in inspect(engine).get_columns("violations")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM violations")).scalar() == "old"
    engine.dispose()


def test_the_api_answers_503_while_the_database_is_unreachable(tmp_path):
    """Not a bare 500 with a traceback: a clear 'try again' (health checks and load balancers read it)."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.settings import Settings

    app = create_app(Settings(out_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                              secret_key="k" * 40, admin_password="an-admin-password"))
    app.state.sessions.configure(bind=make_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"))
    with TestClient(app) as client:
        response = client.get("/api/health")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "database unavailable" in response.json()["detail"]


@pytest.mark.postgres
def test_a_camera_never_waits_on_a_database_that_hangs(tmp_path, fresh_pg_url):
    """The database stops answering without closing anything (a partition): the camera goes on at full pace and
    its saves wait in the spool; the drain (the supervisor's thread in `firelane serve`) takes them later."""
    import threading
    import time

    from faultkit import TcpProxy, pg_url_via

    from service.db.session import upgrade

    pg_url = fresh_pg_url  # its own database: this camera's rows must not meet another test's "gate-3"
    upgrade(pg_url)
    with TcpProxy("127.0.0.1", 5432) as proxy:
        engine = make_engine(pg_url_via(pg_url, proxy))
        store = DatabaseStore(engine=engine, spool=Spool(tmp_path / "spool" / "gate-3"), inline=False)
        detector = ScriptedDetector()
        camera = pipeline(tmp_path, store, detector)
        camera.process(next(frames(0, 1)))  # resumed (nothing to resume) while the database answered
        proxy.stall()
        drain = threading.Thread(target=store.flush, daemon=True)  # hangs on the stalled connection
        drain.start()
        slowest = 0.0
        for frame in frames(0.5, 30):
            started = time.monotonic()
            camera.process(frame)
            slowest = max(slowest, time.monotonic() - started)
        assert [r.id for r in camera.open_violations], "the violation started during the stall"
        assert slowest < 2.0, f"a frame waited {slowest:.1f} s on the database"
        assert store.pending > 0
        proxy.unstall()
        drain.join(60)
        store.flush(force=True)
        assert store.pending == 0
        engine.dispose()
    with session_factory(make_engine(pg_url))() as session:
        assert len(session.scalars(select(Violation)).all()) == 1


def test_an_obstruction_standing_through_a_restart_is_not_taken_for_the_empty_lane(tmp_path, engine):
    """Goods stacked in the lane, no detector class for them, and the camera restarts: the lane model goes on from
    the empty lane it saved, so the violation goes on under its id instead of "clearing" when a fresh model would
    learn the goods as lane."""
    ground = pavement(960, 540).astype(np.uint8)
    goods = ground.copy()
    Thing((400, 380, 480, 440), (40, 90, 170)).draw(goods, 0)

    def scene(start_s: float, end_s: float):
        for i in range(int((end_s - start_s) * 2)):
            t = start_s + i / 2
            yield Frame(goods if t >= 5 else ground, T0 + timedelta(seconds=t), i)

    nothing_named = ScriptedDetector()
    nothing_named.present = False
    store = DatabaseStore(engine=engine, spool=Spool(tmp_path / "spool" / "gate-3"))
    first = pipeline(tmp_path, store, nothing_named)
    for frame in scene(0, 45):
        first.process(frame)
    [open_] = first.open_violations
    assert open_.occupant.category == "obstruction"
    assert (tmp_path / "evidence" / "gate-3" / "_lane" / "reference.npz").is_file()

    second = pipeline(tmp_path, store, nothing_named)  # the process died; a new one starts from the database
    for frame in scene(48, 90):
        second.process(frame)
    assert [v.id for v in second.open_violations] == [open_.id], "the goods are still there: still a violation"
    with session_factory(engine)() as session:
        [violation] = session.scalars(select(Violation)).all()
        assert violation.ended_at is None


def test_saves_left_on_a_node_the_camera_moved_away_from_arrive_once_and_never_take_it_back(tmp_path, registered):
    """Cluster mode: the camera ran on node A, whose last saves never reached the database (the node died), and went
    on on node B from the database's checkpoint. When A's spool is drained later (by a camera actor there), what it
    held is older than what the database has: the violation stays ended, with its one alert."""
    from service.cluster.spools import SpoolLock, drain_orphans

    node_a, node_b = tmp_path / "a" / "spool", tmp_path / "b" / "spool"
    detector = ScriptedDetector()
    on_a = DatabaseStore(engine=registered, spool=Spool(node_a / "gate-3"), inline=False)
    first = pipeline(tmp_path, on_a, detector)
    for frame in frames(0, 30):
        first.process(frame)
    on_a.flush(force=True)  # the actor's drain took everything up to here
    [started] = rows(registered, Violation)
    for frame in frames(30, 36):  # these saves stay on node A: it dies before its next drain
        first.process(frame)
    assert on_a.pending > 0
    second = pipeline(tmp_path, DatabaseStore(engine=registered, spool=Spool(node_b / "gate-3")), detector)
    for frame in frames(38, 50):
        second.process(frame)
    detector.present = False
    for frame in frames(50, 65):
        second.process(frame)
    [ended] = rows(registered, Violation)
    assert ended.id == started.id and ended.ended_at is not None
    [final_state] = rows(registered, CameraState)

    running = SpoolLock(node_a / "gate-3")  # a camera actor on node A holds it: left alone
    assert running.acquire()
    assert drain_orphans(node_a, registered) == 0
    running.release()
    assert drain_orphans(node_a, registered) > 0
    assert Spool(node_a / "gate-3").pending() == [], "taken once, and gone"
    [violation] = rows(registered, Violation)
    assert (violation.ended_at, violation.last_seen_at) == (ended.ended_at, ended.last_seen_at), "not reopened"
    [state] = rows(registered, CameraState)
    assert state.capture_at == final_state.capture_at and state.state["violations"] == []
    assert len(rows(registered, Alert)) == 1
