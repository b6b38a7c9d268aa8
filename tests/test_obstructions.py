"""Static blobs of the lane model become occupants: named by a close-up when the detector can, never a person."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from detector.appearance import StaticBlob
from detector.detections import Detections
from service.camera.obstructions import ObstructionFinder

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
BLOB = (100.0, 200.0, 140.0, 240.0)


class OneBlob:
    """A lane model that reports one static blob at ``BLOB``."""

    def update(self, image, at, moving=None):
        return [StaticBlob(BLOB, np.ones((40, 40), bool), T0, 1600.0, 0.4)]

    def reference(self):
        return None


class CloseUp:
    """A detector that sees ``answer`` (class, category, confidence) in any crop it is shown, around the blob."""

    name, class_names = "close-up", ["person", "car", "backpack"]

    def __init__(self, answer=None):
        self.answer = answer
        self.crops = []

    def detect(self, image, imgsz=None):
        self.crops.append(image.shape)
        if self.answer is None:
            return Detections.empty()
        name, category, confidence = self.answer
        h, w = image.shape[:2]  # the blob sits in the middle of its crop
        return Detections([(w / 2 - 25, h / 2 - 25, w / 2 + 25, h / 2 + 25)], [confidence], [name], [category])


def frame():
    return np.zeros((480, 640, 3), np.uint8)


def seen(*rows):
    if not rows:
        return Detections.empty()
    return Detections([r[0] for r in rows], [r[3] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def found(answer=None, detections=None, at=T0):
    finder = ObstructionFinder(OneBlob(), CloseUp(answer))
    result = finder.find(frame(), at, detections if detections is not None else seen())
    return finder, result


def test_an_unnamed_thing_is_an_obstruction_and_the_close_up_runs_once():
    finder, result = found()
    assert list(result.class_name) == ["obstruction"] and list(result.category) == ["obstruction"]
    assert tuple(result.xyxy[0]) == BLOB
    for second in range(1, 9):  # the verdict is kept (re-checked only every recheck_s)
        finder.find(frame(), T0 + timedelta(seconds=second), seen())
    assert len(finder.detector.crops) == 1
    crop_h, crop_w = finder.detector.crops[0][:2]
    assert crop_w >= 96 and crop_h >= 96, "the detector is shown the blob with its surroundings"
    finder.find(frame(), T0 + timedelta(seconds=10), seen())
    assert len(finder.detector.crops) == 2


def test_a_person_standing_still_is_never_an_obstruction():
    assert len(found(("person", "ignored", 0.9))[1]) == 0
    person = ((90.0, 120.0, 150.0, 245.0), "person", "ignored", 0.8)
    assert len(found(None, seen(person))[1]) == 0, "a person the full frame sees on the blob"


def test_a_close_up_that_names_a_vehicle_keeps_its_class_and_category():
    result = found(("car", "vehicle", 0.7))[1]
    assert list(result.class_name) == ["car"] and list(result.category) == ["vehicle"]


def test_an_object_the_detector_already_counts_is_not_counted_twice():
    car = ((90.0, 190.0, 150.0, 250.0), "car", "vehicle", 0.9)
    finder, result = found(None, seen(car))
    assert len(result) == 0 and finder.detector.crops == []


def test_a_named_thing_no_lane_watches_is_an_obstruction_with_its_name_when_sure():
    backpack = ((95.0, 195.0, 145.0, 245.0), "backpack", "ignored", 0.8)
    result = found(None, seen(backpack))[1]
    assert list(result.class_name) == ["backpack"] and list(result.category) == ["obstruction"]
    unsure = found(("airplane", "ignored", 0.35))[1]
    assert list(unsure.class_name) == ["obstruction"], "a far-fetched weak name is not shown to reviewers"


def test_a_vehicle_driving_off_leaves_no_obstruction_behind():
    """While the car stood there it covered its blob; as it drives off the blob lingers a moment, uncovered."""
    finder = ObstructionFinder(OneBlob(), CloseUp(("car", "vehicle", 0.7)))
    car = ((90.0, 190.0, 150.0, 250.0), "car", "vehicle", 0.9)
    assert len(finder.find(frame(), T0, seen(car))) == 0
    leaving = ((200.0, 190.0, 260.0, 250.0), "car", "vehicle", 0.9)
    assert len(finder.find(frame(), T0 + timedelta(seconds=1), seen(leaving))) == 0


class CountingBlob(OneBlob):
    def __init__(self):
        self.looks = []

    def update(self, image, at, moving=None):
        self.looks.append(at)
        return super().update(image, at, moving)


def test_the_lane_model_looks_at_most_twice_a_second_and_its_blobs_meet_every_frame_s_detections():
    lane = CountingBlob()
    finder = ObstructionFinder(lane, CloseUp())
    at = [T0 + timedelta(seconds=i / 5) for i in range(10)]  # a camera sampled at 5 fps
    results = [finder.find(frame(), t, seen()) for t in at]
    assert lane.looks == [at[0], at[3], at[6], at[9]]
    assert all(len(r) == 1 for r in results), "the blob stays between looks"
    person = seen(((95.0, 150.0, 150.0, 245.0), "person", "person", 0.9))
    assert len(finder.find(frame(), at[9] + timedelta(seconds=0.2), person)) == 1, "a known obstruction stays"

    two_fps = CountingBlob()
    finder = ObstructionFinder(two_fps, CloseUp())
    for i in range(6):
        finder.find(frame(), T0 + timedelta(seconds=i * 0.49), seen())  # 2 fps, with a stream's jitter
    assert len(two_fps.looks) == 6, "a camera at 2 fps is looked at on every frame"
