"""Accuracy metrics on fixtures whose right answers are known by construction."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.evaluation.metrics import Counts, Interval, match_events, occupancy_counts
from service.evaluation.pklot import AnnotatedFrame, Space, expected_events

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=ZoneInfo("UTC"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_counts_ratios():
    counts = Counts(tp=8, fp=2, fn=4)
    assert counts.precision == 0.8 and counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))
    assert Counts().precision is None and Counts().recall is None and Counts().f1 is None
    assert Counts(fp=3).precision == 0.0 and Counts(fp=3).f1 is None
    assert Counts(tp=1) + Counts(fp=1, fn=2) == Counts(1, 1, 2)


def test_occupancy_counts_per_item():
    truth = {"1": True, "2": True, "3": False, "4": False}
    predicted = {"1": True, "2": False, "3": True, "4": False}
    assert occupancy_counts(predicted, truth) == Counts(tp=1, fp=1, fn=1)
    with pytest.raises(ValueError):
        occupancy_counts({"1": True}, truth)


def test_event_matching_is_one_to_one_by_zone_and_overlap():
    truth = [Interval("a", at(0), at(10)), Interval("a", at(30), at(40)), Interval("b", at(0), at(10))]
    predicted = [
        Interval("a", at(1), at(9)),     # matches the first a
        Interval("a", at(5), at(12)),    # overlaps the same true event less: a duplicate, a false positive
        Interval("b", at(20), at(25)),   # wrong time: false positive, b stays missed
        Interval("a", at(40), at(45)),   # touches the second a at 40: counts
    ]
    match = match_events(predicted, truth)
    assert match.counts == Counts(tp=2, fp=2, fn=1)
    assert sorted(match.start_errors_s) == [60.0, 600.0]
    assert sorted(match.end_errors_s) == [-60.0, 300.0]
    summary = match.to_json()
    assert summary["start_error"]["mean_abs_s"] == 330.0


def test_no_events_either_side():
    match = match_events([], [])
    assert match.counts == Counts() and match.to_json()["start_error"] is None


def test_pklot_events_need_consecutive_occupied_frames_spanning_grace():
    def frame(minute, occupied):
        return AnnotatedFrame(None, at(minute), {s: Space(s, s in occupied, []) for s in ("1", "2", "3")})

    frames = [frame(0, {"1", "2"}), frame(3, {"1", "2", "3"}), frame(10, {"1", "3"}), frame(20, {"3"})]
    assert expected_events(frames, grace_s=300) == {("1", at(0), at(10)), ("3", at(3), at(20))}
    # space 2: occupied 0..3 min only, under the 5 min grace time
    assert ("2", at(0), at(3)) in expected_events(frames, grace_s=120)


def test_events_file_accepts_iso_times_and_seconds(tmp_path):
    import json

    from service.evaluation.evaluate import read_events_file

    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": [
        {"zone_id": "a", "start": "2026-01-01T08:01:00+00:00", "end": 120},
        {"zone_id": "b", "start_s": 30, "end_s": 90.5},
    ]}))
    assert read_events_file(path, T0) == [
        Interval("a", at(1), at(2)),
        Interval("b", T0 + timedelta(seconds=30), T0 + timedelta(seconds=90.5)),
    ]
