"""The occupancy rule, driven by timestamps alone (no model, no video)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from detector.detections import Detections
from zones.config import parse_zones
from zones.occupancy import OccupancyEngine

T0 = datetime(2026, 11, 2, 9, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
LANE = [[100, 300], [900, 300], [900, 500], [100, 500]]  # a lane across the lower frame


def camera(grace_s=60, leave_s=30, active="00:00-24:00", min_overlap=0.3, classes=("vehicle", "obstacle")):
    return parse_zones(
        {
            "camera_id": "cam-1",
            "frame_size": [1000, 600],
            "zones": [
                {
                    "id": "lane-a",
                    "polygon": LANE,
                    "grace_s": grace_s,
                    "leave_s": leave_s,
                    "active": active,
                    "min_overlap": min_overlap,
                    "classes": list(classes),
                }
            ],
        }
    )


def dets(*objects):
    """objects: (box, tracker_id) or (box, tracker_id, class_name, category)."""
    if not objects:
        return Detections.empty()
    rows = [o if len(o) == 4 else (*o, "car", "vehicle") for o in objects]
    return Detections(
        [r[0] for r in rows], [0.9] * len(rows), [r[2] for r in rows], [r[3] for r in rows], [r[1] for r in rows]
    )


PARKED = (300, 320, 460, 440)  # footprint (bottom 30%) well inside the lane


def run(engine, frames):
    """frames: list of (seconds, Detections) → all events in order."""
    events = []
    for seconds, detections in frames:
        events += engine.update(T0 + timedelta(seconds=seconds), detections)
    return events


def kinds(events, kind):
    return [e for e in events if e.kind == kind]


def test_pass_through_is_never_a_violation():
    engine = OccupancyEngine(camera(grace_s=5))
    # a car driving left to right across the lane, 1 fps, ~120 px per second, for 8 s
    frames = [(s, dets(((100 + 120 * s, 320, 260 + 120 * s, 440), 1))) for s in range(8)]
    frames += [(s, dets()) for s in range(8, 60)]
    events = run(engine, frames)
    assert kinds(events, "entered"), "the car is seen in the zone"
    assert kinds(events, "violation_started") == []
    assert engine.occupants() == []


def test_parked_past_grace_becomes_one_violation_with_times():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    frames = [(s, dets((PARKED, 7))) for s in range(0, 121, 2)] + [(s, dets()) for s in range(122, 200, 2)]
    events = run(engine, frames)
    started = kinds(events, "violation_started")
    ended = kinds(events, "violation_ended")
    assert len(started) == 1 and len(ended) == 1
    occ = started[0].occupant
    assert occ.still_since == T0
    assert started[0].at == T0 + timedelta(seconds=60)
    assert ended[0].at == T0 + timedelta(seconds=120)  # last seen
    assert ended[0].occupant.dwell_s == 120


def test_parked_under_grace_is_not_a_violation():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    frames = [(s, dets((PARKED, 3))) for s in range(0, 50, 2)] + [(s, dets()) for s in range(50, 150, 2)]
    events = run(engine, frames)
    assert kinds(events, "violation_started") == []
    assert [e.kind for e in events][-1] == "left"


def test_twenty_second_occlusion_keeps_the_violation_running():
    engine = OccupancyEngine(camera(grace_s=30, leave_s=30))
    frames = [(s, dets((PARKED, 1))) for s in range(0, 41)]
    frames += [(s, dets()) for s in range(41, 61)]  # hidden for 20 s
    frames += [(s, dets((PARKED, 1))) for s in range(61, 91)]
    events = run(engine, frames)
    assert len(kinds(events, "violation_started")) == 1
    assert kinds(events, "violation_ended") == []
    (occ,) = engine.occupants()
    assert occ.in_violation and occ.dwell_s == 90


def test_occlusion_before_grace_still_counts_the_dwell():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    frames = [(s, dets((PARKED, 1))) for s in range(0, 30)]
    frames += [(s, dets()) for s in range(30, 50)]  # a truck hides it for 20 s
    frames += [(s, dets((PARKED, 1))) for s in range(50, 70)]
    started = kinds(run(engine, frames), "violation_started")
    assert len(started) == 1 and started[0].at == T0 + timedelta(seconds=60)
    assert started[0].occupant.still_since == T0


def test_tracker_id_switch_does_not_split_the_violation():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    jitter = (302, 318, 461, 441)
    frames = [(s, dets((PARKED, 4))) for s in range(0, 40)]
    frames += [(s, dets()) for s in range(40, 45)]
    frames += [(s, dets((jitter, 19))) for s in range(45, 100)]  # reappears under a new ID
    events = run(engine, frames)
    assert len(kinds(events, "entered")) == 1
    started = kinds(events, "violation_started")
    assert len(started) == 1 and started[0].occupant.still_since == T0
    (occ,) = engine.occupants()
    assert occ.tracker_ids == {4, 19}


def test_leaving_and_returning_later_is_a_new_violation():
    engine = OccupancyEngine(camera(grace_s=20, leave_s=10))
    frames = [(s, dets((PARKED, 1))) for s in range(0, 31)]
    frames += [(s, dets()) for s in range(31, 60)]
    frames += [(s, dets((PARKED, 1))) for s in range(60, 91)]  # same car, same ID, back later
    events = run(engine, frames)
    started = kinds(events, "violation_started")
    assert len(started) == 2
    assert len(kinds(events, "violation_ended")) == 1
    assert started[0].occupant.key != started[1].occupant.key
    assert started[1].occupant.still_since == T0 + timedelta(seconds=60)


def test_two_vehicles_get_separate_violations():
    engine = OccupancyEngine(camera(grace_s=30, leave_s=10))
    other = (600, 330, 780, 450)
    frames = [(s, dets((PARKED, 1), (other, 2))) for s in range(0, 20)]
    frames += [(s, dets((PARKED, 1))) for s in range(20, 40)]  # the second leaves before its grace time
    frames += [(s, dets((PARKED, 1), (other, 5))) for s in range(40, 80)]  # and comes back, then stays
    events = run(engine, frames)
    started = kinds(events, "violation_started")
    assert [e.occupant.box for e in started] == [PARKED, other]
    assert started[0].at == T0 + timedelta(seconds=30)
    assert started[1].occupant.still_since == T0 + timedelta(seconds=40)


def test_inactive_schedule_ignores_parking_until_the_window_opens():
    # enforced 09:01-18:00 local time; the car parks at 09:00 and stays
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30, active="09:01-18:00"))
    frames = [(s, dets((PARKED, 1))) for s in range(0, 200, 5)]
    events = run(engine, frames)
    started = kinds(events, "violation_started")
    assert len(started) == 1
    assert started[0].occupant.still_since == T0 + timedelta(seconds=60)  # counted from the window's opening
    assert started[0].at == T0 + timedelta(seconds=120)


def test_window_closing_ends_an_open_violation():
    engine = OccupancyEngine(camera(grace_s=10, leave_s=30, active="08:00-09:01"))
    events = run(engine, [(s, dets((PARKED, 1))) for s in range(0, 90, 5)])
    assert len(kinds(events, "violation_started")) == 1
    (ended,) = kinds(events, "violation_ended")
    assert ended.at == T0 + timedelta(seconds=55)
    assert engine.occupants() == []


def test_small_overlap_and_unwatched_classes_do_not_occupy():
    engine = OccupancyEngine(camera(grace_s=0, classes=("vehicle",)))
    beside = (300, 120, 460, 310)  # footprint mostly above the lane
    bench = (PARKED, 2, "bench", "obstacle")
    events = run(engine, [(s, dets((beside, 1), bench)) for s in range(10)])
    assert events == []


def test_obstacle_without_tracker_id_is_followed_by_position():
    engine = OccupancyEngine(camera(grace_s=30, classes=("obstacle",)))
    events = run(engine, [(s, dets((PARKED, -1, "dining table", "obstacle"))) for s in range(0, 40, 5)])
    assert len(kinds(events, "entered")) == 1
    assert len(kinds(events, "violation_started")) == 1


def test_stills_minutes_apart_keep_the_occupant():
    engine = OccupancyEngine(camera(grace_s=300, leave_s=30))
    events = run(engine, [(0, dets((PARKED, 1))), (600, dets((PARKED, 2))), (1200, dets((PARKED, 3)))])
    started = kinds(events, "violation_started")
    assert len(started) == 1 and started[0].at == T0 + timedelta(seconds=600)


def test_time_must_be_aware_and_monotonic():
    engine = OccupancyEngine(camera())
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.update(datetime(2026, 1, 1), dets())
    engine.update(T0, dets())
    with pytest.raises(ValueError, match="backwards"):
        engine.update(T0 - timedelta(seconds=1), dets())


def test_cars_streaming_past_one_spot_do_not_add_up_to_a_parked_one():
    """Untracked detections of different cars that happen to pass the same spot now and then."""
    engine = OccupancyEngine(camera(grace_s=5, leave_s=5))
    frames = [(s / 5, dets((PARKED, -1)) if s % 3 == 0 else dets()) for s in range(0, 100)]
    assert kinds(run(engine, frames), "violation_started") == []


def test_reconfigure_keeps_unchanged_zones_and_ends_changed_ones():
    two = parse_zones(
        {
            "camera_id": "cam-1",
            "frame_size": [1000, 600],
            "zones": [
                {"id": "lane-a", "polygon": LANE, "grace_s": 10},
                {"id": "lane-b", "polygon": LANE, "grace_s": 10},
            ],
        }
    )
    engine = OccupancyEngine(two)
    run(engine, [(s, dets((PARKED, 1))) for s in range(0, 20)])
    assert {o.zone_id for o in engine.occupants() if o.in_violation} == {"lane-a", "lane-b"}

    edited = parse_zones(
        {
            "camera_id": "cam-1",
            "frame_size": [1000, 600],
            "zones": [
                {"id": "lane-a", "polygon": LANE, "grace_s": 10},  # unchanged
                {"id": "lane-b", "polygon": LANE, "grace_s": 30},  # grace changed
                {"id": "lane-c", "polygon": LANE, "grace_s": 5},  # new
            ],
        }
    )
    ended = engine.reconfigure(edited)
    assert [(e.kind, e.occupant.zone_id, e.at) for e in ended] == [("violation_ended", "lane-b", T0 + timedelta(seconds=19))]
    (kept,) = engine.occupants("lane-a")
    assert kept.in_violation and kept.still_since == T0
    events = run(engine, [(s, dets((PARKED, 1))) for s in range(20, 60)])
    started = {e.occupant.zone_id: e.at for e in kinds(events, "violation_started")}
    assert started == {"lane-b": T0 + timedelta(seconds=50), "lane-c": T0 + timedelta(seconds=25)}


def test_footprint_overlap_uses_the_bottom_band():
    import numpy as np
    from shapely.geometry import Polygon

    from zones.geometry import footprint_overlap

    lane = Polygon([(0, 100), (200, 100), (200, 200), (0, 200)])
    boxes = np.array([
        [10, 0, 50, 130],     # top far above the lane, bottom 30 % (91..130) straddles its edge at 100
        [60, 150, 100, 190],  # wholly inside
        [300, 150, 340, 190], # far right: outside
        [10, 0, 50, 90],      # stands above the lane
    ])
    overlap = footprint_overlap(boxes, lane)
    assert overlap[0] == pytest.approx(30 / 39)
    assert list(overlap[1:]) == [1.0, 0.0, 0.0]
    assert len(footprint_overlap(np.zeros((0, 4)), lane)) == 0


# --- durable state: snapshot, restore, expire ---------------------------------------------------------------

def test_snapshot_survives_json_and_restore_goes_on_under_the_same_key():
    import json

    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    events = run(engine, [(s, dets((PARKED, 7))) for s in range(0, 70, 2)])
    [started] = kinds(events, "violation_started")
    snapshot = json.loads(json.dumps(engine.snapshot()))

    restored, ended = OccupancyEngine.restore(camera(grace_s=60, leave_s=30), snapshot)
    assert ended == []
    [occ] = restored.occupants()
    assert occ.key == started.occupant.key and occ.in_violation
    assert occ.tracker_ids == frozenset(), "a new tracker's IDs must not match old tracks"
    # a new tracker calls the same parked car 1: found again at its resting place, same violation, no new one
    later = run(restored, [(s, dets((PARKED, 1))) for s in range(80, 100, 2)])
    assert kinds(later, "violation_started") == [] and kinds(later, "entered") == []
    [occ] = restored.occupants()
    assert occ.key == started.occupant.key and occ.last_seen == T0 + timedelta(seconds=98)
    # new occupants get keys that were never used before the restart
    more = restored.update(T0 + timedelta(seconds=100), dets((PARKED, 1), ((600, 320, 760, 440), 2)))
    [entered] = kinds(more, "entered")
    assert entered.occupant.key > started.occupant.key


def test_restore_ends_occupants_of_zones_edited_meanwhile():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    run(engine, [(s, dets((PARKED, 7))) for s in range(0, 70, 2)])
    restored, ended = OccupancyEngine.restore(camera(grace_s=120, leave_s=30), engine.snapshot())
    assert [e.kind for e in ended] == ["violation_ended"]
    assert ended[0].at == T0 + timedelta(seconds=68), "ended at its last sighting"
    assert restored.occupants() == []


def test_expire_ends_what_was_not_seen_for_leave_s_even_if_it_is_back():
    engine = OccupancyEngine(camera(grace_s=60, leave_s=30))
    run(engine, [(s, dets((PARKED, 7))) for s in range(0, 70, 2)])
    # the camera was away 20 s (< leave_s): nothing ends
    assert engine.expire(T0 + timedelta(seconds=88)) == []
    # away 31 s (>= leave_s): the violation ends at its last sighting, even though the car is seen again now
    [ended] = engine.expire(T0 + timedelta(seconds=99))
    assert ended.kind == "violation_ended" and ended.at == T0 + timedelta(seconds=68)
    events = engine.update(T0 + timedelta(seconds=99), dets((PARKED, 7)))
    assert [e.kind for e in events] == ["entered"], "what is there now is a new occupant with a fresh dwell"


def test_restore_rejects_unknown_format():
    with pytest.raises(ValueError, match="format"):
        OccupancyEngine.restore(camera(), {"format": 99})


def test_an_object_the_lane_model_saw_resting_counts_its_dwell_from_then():
    engine = OccupancyEngine(camera(grace_s=20, leave_s=10, classes=("vehicle", "obstacle", "obstruction")))
    rested = (T0 - timedelta(seconds=8)).timestamp()  # confirmed still for 8 s before it is first reported

    def blob():
        return Detections([PARKED], [0.4], ["obstruction"], ["obstruction"], [-1], [rested])

    events = run(engine, [(s, blob()) for s in range(0, 14)])
    [started] = kinds(events, "violation_started")
    assert started.occupant.still_since == T0 - timedelta(seconds=8)
    assert started.at == T0 + timedelta(seconds=12), "20 s of dwell counted from when it came to rest"
