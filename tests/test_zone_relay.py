"""MQTT zone states of cameras run elsewhere (Ray camera actors), relayed by the cluster's leader from the shared
camera status: one retained message per change, a stale state when the camera stops reporting, one refresh per
leader change, and never a camera whose own process publishes its states. Against the local Mosquitto, SQLite and
PostgreSQL; the camera processes are played by writing their status as they do (``DatabaseStore.set_status``)."""

from __future__ import annotations

import json
import queue
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_alerts import (  # noqa: F401 (broker and sessions are fixtures)
    Subscriber,
    broker,
    seed,
    sessions,
    wait_until,
)

from service.alerts import MqttPublisher, ZoneStatePublisher
from service.alerts.zone_relay import ZoneStateRelay
from service.alerts.zone_sweep import RetainedZoneSweep
from service.background import BackgroundServices
from service.camera.store import DatabaseStore
from service.db import camera_states
from service.db.models import Camera, Site, ZoneVersion
from service.settings import Settings

Received = list[tuple[str, dict[str, Any]]]


def zone(zone_id: str, occupied: bool, violations: int = 0, dwell_s: float = 0.0) -> dict[str, Any]:
    """A zone as a camera worker reports it; ``longest_dwell_s`` grows every frame and is not published."""
    return {"id": zone_id, "name": zone_id, "occupied": occupied, "violations": violations,
            "longest_dwell_s": dwell_s}


def add_camera(sessions: sessionmaker[Session], site_code: str, camera_id: str) -> None:
    with sessions.begin() as session:
        site = session.query(Site).filter_by(code=site_code).one()
        session.add(Camera(id=camera_id, site_id=site.id, name=camera_id, source_url="rtsp://cam/stream"))


def reported_at(sessions: sessionmaker[Session], camera_id: str) -> datetime:
    with sessions() as session:
        row = camera_states.get_status(session, camera_id)
        assert row is not None and row.status_at is not None
        return row.status_at


class Clock:
    """The relay's clock: the real now, or a moment given (to look at the status later than it was written)."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(timezone.utc)


@pytest.fixture
def mqtt_publisher(broker: tuple[str, int]) -> Iterator[MqttPublisher]:
    publisher = MqttPublisher(*broker, client_id=f"firelane-test-{uuid.uuid4().hex[:8]}")
    assert publisher.wait_connected(5)
    yield publisher
    publisher.close()


def published(watcher: Subscriber, publisher: MqttPublisher, site: str, zone_states: ZoneStatePublisher) -> Received:
    """What reached the subscriber since the last call. Once the broker acknowledged every queued state, a marker
    goes out on the same connection after them: everything before it is all that was published."""
    assert wait_until(lambda: zone_states.pending == 0, 10)
    marker = f"firelane/{site}/marker-{uuid.uuid4().hex[:6]}"
    assert publisher.publish(marker, {"marker": True})
    received = []
    while (message := watcher.next()).topic != marker:
        assert message.retain is False  # live messages; retained ones only reach late subscribers
        received.append((message.topic, json.loads(message.payload)))
    return received


def by_topic(received: Received) -> Received:
    return sorted(received, key=lambda message: message[0])


def clear_retained(publisher: MqttPublisher, site: str, camera_id: str, zone_ids: list[str]) -> None:
    for zone_id in zone_ids:  # the broker is shared with other runs
        assert publisher.clear_zone_state(site, camera_id, zone_id)


def test_relayed_zone_states_once_per_change_stale_and_one_refresh_per_leader(
    sessions: sessionmaker[Session], engine: Engine, broker: tuple[str, int], mqtt_publisher: MqttPublisher
) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site, camera_id="cam-ray")
    add_camera(sessions, site, "cam-here")
    actor = DatabaseStore(engine=engine)  # the Ray camera actor's store: writes its status at once
    single = DatabaseStore(engine=engine)  # a single-process serve's camera, which publishes its own states
    topic = f"firelane/{site}/cam-ray/%s/state"
    clock = Clock()
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    zone_states = ZoneStatePublisher(mqtt_publisher)
    relay = ZoneStateRelay(sessions, zone_states, clock=clock)
    everything: Received = []

    def relay_once() -> Received:
        assert relay.relay_once() == 2  # the single-process camera is relayed only once nobody watches it
        received = published(watcher, mqtt_publisher, site, zone_states)
        everything.extend(received)
        return received

    try:
        single.set_status("cam-here", "running", None, zones=[zone("lane-a", True, 1)], publishes_zone_states=True)
        actor.set_status("cam-ray", "starting", None, zones=[])
        assert relay_once() == []  # no frame yet: nothing is known of its zones

        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", False), zone("lane-b", True, 0, 3.0)])
        first = reported_at(sessions, "cam-ray")
        assert by_topic(relay_once()) == [
            (topic % "lane-a", {"occupied": False, "violations": 0, "since": first.isoformat(), "stale": False}),
            (topic % "lane-b", {"occupied": True, "violations": 0, "since": first.isoformat(), "stale": False})]

        # heartbeats with the same occupancy (the dwell grows): nothing, however often the relay reads
        for dwell in (13.0, 23.0):
            actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", False), zone("lane-b", True, 0, dwell)])
            assert relay_once() == []

        # lane-b's car overstays: only lane-b, "since" the report that carried the change
        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", False), zone("lane-b", True, 1, 61.0)])
        overstay = reported_at(sessions, "cam-ray")
        assert relay_once() == [
            (topic % "lane-b", {"occupied": True, "violations": 1, "since": overstay.isoformat(), "stale": False})]

        # the camera stops reporting: once the status is stale, each zone once more as last seen, marked stale
        clock.at = overstay + timedelta(seconds=camera_states.STALE_AFTER_S - 1)
        assert relay_once() == []
        clock.at = overstay + timedelta(seconds=camera_states.STALE_AFTER_S + 1)
        stale = relay_once()
        here = reported_at(sessions, "cam-here")  # (written before the relay's clock jumped: stale too)
        assert by_topic(stale) == [
            (f"firelane/{site}/cam-here/lane-a/state",
             {"occupied": True, "violations": 1, "since": here.isoformat(), "stale": True}),
            (topic % "lane-a", {"occupied": False, "violations": 0, "since": overstay.isoformat(), "stale": True}),
            (topic % "lane-b", {"occupied": True, "violations": 1, "since": overstay.isoformat(), "stale": True})]
        clock.at += timedelta(minutes=10)
        assert relay_once() == []  # still stale: nothing more

        # it reports again (moved to another node): fresh states, same occupancy
        clock.at = None
        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", False), zone("lane-b", True, 1, 90.0)])
        back = reported_at(sessions, "cam-ray")
        assert by_topic(relay_once()) == [
            (topic % "lane-a", {"occupied": False, "violations": 0, "since": back.isoformat(), "stale": False}),
            (topic % "lane-b", {"occupied": True, "violations": 1, "since": back.isoformat(), "stale": False})]

        # a new actor fails before its first frame (no zones in its report): the zones as last seen, stale
        actor.set_status("cam-ray", "error", "cannot open rtsp://cam/stream", zones=[])
        failed = reported_at(sessions, "cam-ray")
        assert by_topic(relay_once()) == [
            (topic % "lane-a", {"occupied": False, "violations": 0, "since": failed.isoformat(), "stale": True}),
            (topic % "lane-b", {"occupied": True, "violations": 1, "since": failed.isoformat(), "stale": True})]
        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", True), zone("lane-b", False)])
        assert len(relay_once()) == 2

        # a new leader (its own publisher for its term): one retained refresh per zone, then changes only
        zone_states.close()
        zone_states = ZoneStatePublisher(mqtt_publisher)
        relay = ZoneStateRelay(sessions, zone_states, clock=clock)
        refresh = relay_once()
        assert sorted((t, (s["occupied"], s["violations"], s["stale"])) for t, s in refresh) == [
            (topic % "lane-a", (True, 0, False)), (topic % "lane-b", (False, 0, False))]
        assert relay_once() == []

        late = Subscriber(*broker, topic % "lane-a")  # a platform connecting now gets the latest state at once
        try:
            message = late.next()
            assert message.retain and json.loads(message.payload) == dict(refresh)[topic % "lane-a"]
        finally:
            late.close()
        # cam-here: by its own process while it watched, by the relay only when it went stale
        here_topic = f"firelane/{site}/cam-here/lane-a/state"
        assert {t for t, _ in everything} == {topic % "lane-a", topic % "lane-b", here_topic}
        assert [s["stale"] for t, s in everything if "/cam-here/" in t] == [True]
    finally:
        zone_states.close()
        watcher.close()
        clear_retained(mqtt_publisher, site, "cam-ray", ["lane-a", "lane-b"])
        clear_retained(mqtt_publisher, site, "cam-here", ["lane-a"])


def test_one_camera_with_an_unpublishable_id_does_not_stop_the_others(
    sessions: sessionmaker[Session], engine: Engine, broker: tuple[str, int], mqtt_publisher: MqttPublisher,
    caplog: pytest.LogCaptureFixture
) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site, camera_id="cam+wild")  # "+" is an MQTT wildcard: no topic can carry it
    add_camera(sessions, site, "cam-ok")
    actor = DatabaseStore(engine=engine)
    for camera_id in ("cam+wild", "cam-ok"):
        actor.set_status(camera_id, "running", None, zones=[zone("lane-a", True)])
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    zone_states = ZoneStatePublisher(mqtt_publisher)
    relay = ZoneStateRelay(sessions, zone_states)
    try:
        for _ in range(3):
            assert relay.relay_once() == 2
        assert [t for t, _ in published(watcher, mqtt_publisher, site, zone_states)] == [
            f"firelane/{site}/cam-ok/lane-a/state"]
        warnings = [r for r in caplog.records if "not relayed" in r.getMessage()]
        assert len(warnings) == 1 and "cam+wild" in warnings[0].getMessage()  # once, not once per read
    finally:
        zone_states.close()
        watcher.close()
        clear_retained(mqtt_publisher, site, "cam-ok", ["lane-a"])


def test_api_only_leader_relays_while_a_single_process_serve_publishes_its_own(
    sessions: sessionmaker[Session], engine: Engine, broker: tuple[str, int], mqtt_publisher: MqttPublisher,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment of README's "shared evidence and API processes" with MQTT: `serve` runs a camera in its
    process and publishes its zones itself, the leading `serve --no-cameras` relays the camera of a Ray actor."""
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site, camera_id="cam-here")
    add_camera(sessions, site, "cam-ray")
    common = dict(_env_file=None, mqtt_host=broker[0], mqtt_port=broker[1], reports_enabled=False)
    with monkeypatch.context() as patch:  # two processes: two MQTT client ids (host-pid), or the broker drops one
        patch.setattr(socket, "gethostname", lambda: "api-host")
        api = BackgroundServices(Settings(**common, out_dir=tmp_path / "api", run_cameras=False,
                                          zone_state_relay_s=0.05), engine, sessions)
    cameras = BackgroundServices(Settings(**common, out_dir=tmp_path / "cameras"), engine, sessions)
    assert api.zone_states is None and cameras.zone_states is not None  # only a camera process publishes directly
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    here, ray = f"firelane/{site}/cam-here/lane-a/state", f"firelane/{site}/cam-ray/lane-a/state"
    actor = DatabaseStore(engine=engine)
    try:
        api.start()  # alone on this database: it leads, and relays
        assert wait_until(lambda: api.leadership.is_leader, 10)
        cameras.supervisor.sync()  # learns its cameras' sites (no zones drawn: no worker starts)
        on_zone_state = cameras.supervisor.on_zone_state
        on_zone_state("cam-here", [zone("lane-a", True, 1)])  # what its camera worker calls at each frame
        DatabaseStore(engine=engine).set_status("cam-here", "running", None, zones=[zone("lane-a", True, 1)],
                                                publishes_zone_states=True)  # and what it reports, for the API
        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", True)])

        messages: Received = []

        def until(topic: str, occupied: bool) -> None:
            """Collect what arrives up to and including ``topic``'s state with ``occupied``."""
            while True:
                message = watcher.next(timeout=10)
                messages.append((message.topic, json.loads(message.payload)))
                if (message.topic, messages[-1][1]["occupied"]) == (topic, occupied):
                    return

        until(ray, True)
        if not any(t == here for t, _ in messages):
            until(here, True)
        # the Ray camera reports a change: once it arrived, the relay had read the unchanged rows in between
        actor.set_status("cam-ray", "running", None, zones=[zone("lane-a", False)])
        until(ray, False)
        with pytest.raises(queue.Empty):
            watcher.next(timeout=0.5)  # several relay reads later: nothing else
        assert [(t, (s["occupied"], s["violations"], s["stale"])) for t, s in messages if t == here] == [
            (here, (True, 1, False))]  # published once, by the camera's own process
        assert [(t, s["occupied"]) for t, s in messages if t == ray] == [(ray, True), (ray, False)]
    finally:
        api.stop()
        cameras.stop()
        watcher.close()
        clear_retained(mqtt_publisher, site, "cam-here", ["lane-a"])
        clear_retained(mqtt_publisher, site, "cam-ray", ["lane-a"])


def test_a_single_process_camera_nobody_watches_any_more_is_published_stale_each_time(
    sessions: sessionmaker[Session], engine: Engine, broker: tuple[str, int], mqtt_publisher: MqttPublisher
) -> None:
    """Its own process publishes it while it watches; once that process is gone (no report for STALE_AFTER_S) or
    the camera is in error, the leader says it is not watched, every time that happens."""
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site, camera_id="cam-here")
    single = DatabaseStore(engine=engine)
    topic = f"firelane/{site}/cam-here/lane-a/state"
    clock = Clock()
    watcher = Subscriber(*broker, f"firelane/{site}/#")
    zone_states = ZoneStatePublisher(mqtt_publisher)
    relay = ZoneStateRelay(sessions, zone_states, clock=clock)

    def relay_once() -> Received:
        relay.relay_once()
        return published(watcher, mqtt_publisher, site, zone_states)

    try:
        single.set_status("cam-here", "running", None, zones=[zone("lane-a", True, 1)], publishes_zone_states=True)
        assert relay_once() == [], "watched: its own process publishes it"
        for _ in range(2):  # its process dies, comes back, dies again: stale both times
            reported = reported_at(sessions, "cam-here")
            clock.at = reported + timedelta(seconds=camera_states.STALE_AFTER_S + 1)
            assert relay_once() == [
                (topic, {"occupied": True, "violations": 1, "since": reported.isoformat(), "stale": True})]
            clock.at = None
            single.set_status("cam-here", "running", None, zones=[zone("lane-a", True, 1)], publishes_zone_states=True)
            assert relay_once() == [], "watched again: its process publishes, the relay lets go"
        single.set_status("cam-here", "error", "cannot open rtsp://cam/stream", zones=[], publishes_zone_states=True)
        failed = reported_at(sessions, "cam-here")
        assert relay_once() == [
            (topic, {"occupied": True, "violations": 1, "since": failed.isoformat(), "stale": True})]
    finally:
        zone_states.close()
        watcher.close()
        clear_retained(mqtt_publisher, site, "cam-here", ["lane-a"])


def retained(broker: tuple[str, int], topic_filter: str) -> set[str]:
    """The topics a subscriber that connects now is sent a retained state for."""
    late = Subscriber(*broker, topic_filter)
    topics = set()
    try:
        while True:
            message = late.next(timeout=1)
            if message.retain:  # not what is published meanwhile
                assert message.payload
                topics.add(message.topic)
    except queue.Empty:
        return topics
    finally:
        late.close()


def test_leader_clears_the_retained_states_of_zones_that_are_gone_and_only_those(
    sessions: sessionmaker[Session], broker: tuple[str, int], mqtt_publisher: MqttPublisher
) -> None:
    """A zone deleted from a camera's zones, a camera moved to another site, a camera that no longer exists: their
    retained states are cleared. Configured zones, and topics under site codes this installation does not have
    (another installation on the same broker), stay."""
    here, there, foreign = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("site", "site", "other"))
    seed(sessions, 0, site_code=here, camera_id="cam-a")
    add_camera(sessions, here, "cam-b")
    seed(sessions, 0, site_code=there, camera_id="cam-c")
    with sessions.begin() as session:
        session.add(ZoneVersion(camera_id="cam-a", version=1, document={"zones": [{"id": "lane-a"}, {"id": "lane-b"}]}))
        session.add(ZoneVersion(camera_id="cam-b", version=1, document={"zones": [{"id": "lane-a"}]}))
    states = {f"firelane/{site}/{camera}/{zone_id}/state": (site, camera, zone_id) for site, camera, zone_id in [
        (here, "cam-a", "lane-a"), (here, "cam-a", "lane-b"), (here, "cam-b", "lane-a"), (here, "cam-gone", "lane-a"),
        (foreign, "cam-x", "lane-a")]}
    for topic in states:
        assert mqtt_publisher.publish(topic, {"occupied": False, "violations": 0, "stale": False}, retain=True)
    sweep_mqtt = MqttPublisher(*broker, client_id=f"firelane-test-sweep-{uuid.uuid4().hex[:8]}")
    try:
        sweep = RetainedZoneSweep(sessions, sweep_mqtt)
        gone = f"firelane/{here}/cam-gone/lane-a/state"
        assert wait_until(lambda: sweep.orphans() == [gone], 10), sweep.orphans()
        assert sweep.sweep_once() == [gone]
        assert retained(broker, f"firelane/{here}/#") == {t for t, (site, _, _) in states.items()
                                                          if site == here and t != gone}

        with sessions.begin() as session:  # lane-b is deleted from cam-a, and cam-b moves to the other site
            session.add(ZoneVersion(camera_id="cam-a", version=2, document={"zones": [{"id": "lane-a"}]}))
            session.get(Camera, "cam-b").site_id = session.query(Site).filter_by(code=there).one().id
        assert sweep.sweep_once() == [f"firelane/{here}/cam-a/lane-b/state", f"firelane/{here}/cam-b/lane-a/state"]
        assert retained(broker, f"firelane/{here}/#") == {f"firelane/{here}/cam-a/lane-a/state"}
        assert retained(broker, f"firelane/{foreign}/#") == {f"firelane/{foreign}/cam-x/lane-a/state"}
        assert sweep.sweep_once() == []  # nothing left to clear
    finally:
        sweep_mqtt.close()
        for site, camera, zone_id in states.values():
            assert mqtt_publisher.clear_zone_state(site, camera, zone_id)


def test_the_leading_serve_runs_the_sweep(
    sessions: sessionmaker[Session], engine: Engine, broker: tuple[str, int], mqtt_publisher: MqttPublisher,
    tmp_path: Path
) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    seed(sessions, 0, site_code=site, camera_id="cam-a")  # no zones drawn: any state of its zones is an orphan
    assert mqtt_publisher.publish(f"firelane/{site}/cam-a/lane-old/state", {"occupied": True}, retain=True)
    api = BackgroundServices(Settings(_env_file=None, mqtt_host=broker[0], mqtt_port=broker[1], reports_enabled=False,
                                      out_dir=tmp_path, run_cameras=False, zone_state_sweep_s=0.2), engine, sessions)
    try:
        api.start()
        assert wait_until(lambda: not retained(broker, f"firelane/{site}/#"), 20)
    finally:
        api.stop()
        assert mqtt_publisher.clear_zone_state(site, "cam-a", "lane-old")
