"""Live cameras in the server: workers per enabled camera, one shared model, zone edits without restart."""

from __future__ import annotations

import json
import time

import numpy as np
from faultkit import MjpegServer
from sqlalchemy import select

from service.db import camera_states
from service.db.models import Alert, Camera, OutboxMessage, Site, Violation, ZoneVersion
from service.db.session import make_engine, session_factory, upgrade
from service.settings import PROJECT_ROOT, Settings
from service.camera.workers import WorkerSupervisor

SAMPLES = PROJECT_ROOT / "samples"


def wait_for(predicate, timeout_s=300.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_supervisor_runs_cameras_applies_zone_edits_and_isolates_failures(tmp_path, ssd):
    engine = make_engine(f"sqlite:///{tmp_path / 'firelane.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    zones = json.loads((SAMPLES / "fire-lane-demo.zones.json").read_text("utf-8"))
    with sessions.begin() as session:
        site = Site(code="garden-1", name="花园小区")
        session.add(site)
        session.flush()
        session.add_all([
            Camera(id="demo-gate-3", site_id=site.id, name="3号门", source_url=str(SAMPLES / "fire-lane-demo.webm"), fps=2.0),
            Camera(id="broken", site_id=site.id, name="坏的", source_url=str(tmp_path / "missing.mp4"), fps=2.0),
            Camera(id="off", site_id=site.id, name="停用", source_url=str(SAMPLES / "fire-lane-demo.webm"), enabled=False),
        ])
        session.flush()
        session.add(ZoneVersion(camera_id="demo-gate-3", version=1, document=zones))
        session.add(ZoneVersion(camera_id="broken", version=1, document={**zones, "camera_id": "broken"}))
        session.add(ZoneVersion(camera_id="off", version=1, document={**zones, "camera_id": "off"}))

    states: list[tuple[str, list[dict], bool]] = []
    supervisor = WorkerSupervisor(Settings(out_dir=tmp_path), engine, lambda: ssd,
                                  on_zone_state=lambda camera, zs, stale=False: states.append((camera, zs, stale)))
    supervisor.sync()
    assert set(supervisor.workers) == {"demo-gate-3", "broken"}  # the disabled camera gets no worker

    # an operator shortens the grace time while the camera runs: version 2 takes effect without a restart
    shorter = json.loads(json.dumps(zones))
    shorter["zones"][0]["grace_s"] = 30
    with sessions.begin() as session:
        session.add(ZoneVersion(camera_id="demo-gate-3", version=2, document=shorter))
    supervisor.sync()

    worker = supervisor.workers["demo-gate-3"]
    assert wait_for(lambda: worker.status.state == "finished"), worker.status
    assert worker.status.zone_version == 2
    broken = supervisor.status("broken")
    assert broken.state == "error" and "no such file" in broken.error  # and it did not stop the other camera
    supervisor.flush_spools()  # what the cameras saved reaches the database from the supervisor's thread

    with sessions() as session:
        (violation,) = session.scalars(select(Violation).where(Violation.camera_id == "demo-gate-3")).all()
        dwell_at_violation = (violation.violation_at - violation.started_at).total_seconds()
        assert 30 <= dwell_at_violation < 60  # the edited grace time, not the original 60 s
        alert = session.scalars(select(Alert)).one()
        assert alert.violation_id == violation.id and alert.status == "open"
        channels = sorted(m.channel for m in session.scalars(select(OutboxMessage)))
        assert channels == ["mqtt", "webhook"]
    assert (tmp_path / "evidence" / violation.evidence_dir / "manifest.json").exists()
    assert worker.snapshot_path.exists()
    published = [(zs, stale) for camera, zs, stale in states if camera == "demo-gate-3"]
    assert any(z["occupied"] for zs, _ in published for z in zs)
    # the file ended: nobody watches the lane any more, and its zones say so once, as last seen
    assert [stale for _, stale in published] == [False] * (len(published) - 1) + [True]
    assert published[-1][0] == published[-2][0] == worker.status.zones
    assert not any(camera == "broken" for camera, _, _ in states)  # it never watched: nothing to call stale
    with sessions() as session:  # its worker publishes its zone states itself: the cluster's leader must not relay
        assert camera_states.get_status(session, "demo-gate-3").publishes_zone_states is True

    with sessions.begin() as session:
        session.get(Camera, "broken").enabled = False
    supervisor.sync()
    assert "broken" not in supervisor.workers
    supervisor.stop_all()
    engine.dispose()


def test_a_lost_stream_publishes_its_zones_stale_then_afresh_when_it_is_back(tmp_path, ssd):
    """A camera whose own process publishes its MQTT zone states: when the stream drops, its zones go out once as
    stale (occupancy as last seen); when the stream is back they go out fresh again, though nothing changed."""
    engine = make_engine(f"sqlite:///{tmp_path / 'firelane.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    zones = json.loads((SAMPLES / "fire-lane-demo.zones.json").read_text("utf-8"))
    empty_lane = np.full((540, 960, 3), 90, np.uint8)
    states: list[tuple[list[dict], bool]] = []
    with MjpegServer(empty_lane, fps=5, noise=3) as camera:
        with sessions.begin() as session:
            site = Site(code="garden-2", name="花园小区")
            session.add(site)
            session.flush()
            session.add(Camera(id="gate", site_id=site.id, name="东门", source_url=camera.url, fps=2.0))
            session.flush()
            session.add(ZoneVersion(camera_id="gate", version=1, document={**zones, "camera_id": "gate"}))
        supervisor = WorkerSupervisor(Settings(out_dir=tmp_path), engine, lambda: ssd,
                                      on_zone_state=lambda _, zs, stale=False: states.append((zs, stale)))
        try:
            supervisor.sync()
            assert wait_for(lambda: states, 60), "the running camera published its zones"
            assert states == [(states[0][0], False)] and states[0][0]
            camera.stop()  # the camera goes off the network
            assert wait_for(lambda: len(states) >= 2, 30), supervisor.status("gate")
            assert states[1] == (states[0][0], True)
            camera.start()
            assert wait_for(lambda: len(states) >= 3, 60), supervisor.status("gate")
            assert states[2] == (states[0][0], False) and supervisor.status("gate").state == "running"
        finally:
            supervisor.stop_all()
            engine.dispose()
    assert states[-1] == (states[0][0], True)  # stopped: not watched any more
