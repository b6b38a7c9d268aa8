"""Dynamic batching (a cluster node's detector): concurrent cameras share model calls, each gets its own answer,
sizes never mix, and a failing batch fails only its own callers. The model is scripted; the real one is in
``test_yolo_detect_batch_finds_what_detect_finds``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from detector.batching import DynamicBatcher
from detector.detections import Detections


class CountingModel:
    """Answers each frame with one box whose score is the frame's pixel value; records every batch it ran."""

    name = "counting"
    class_names = ["car"]

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[tuple[int | None, int]] = []
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()

    def detect_batch(self, images, imgsz=None):
        self.release.wait(10)
        self.batches.append((imgsz, len(images)))
        if any(int(image[0, 0, 0]) == self.fail_on for image in images):
            raise RuntimeError("model failed")
        return [Detections([(0, 0, 10, 10)], [float(image[0, 0, 0]) / 100], ["car"], ["vehicle"]) for image in images]

    def detect(self, image, imgsz=None):
        raise AssertionError("the batcher calls detect_batch")


def frame(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def test_concurrent_cameras_share_batches_and_each_gets_its_own_answer():
    model = CountingModel()
    model.release.clear()  # the first call waits, so the others queue up behind it
    batcher = DynamicBatcher(model, max_batch=4, max_wait_s=0.05)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda v: batcher.detect(frame(v), imgsz=640), range(8)))
            model.release.set()
    finally:
        batcher.close()
    assert [round(a.confidence[0] * 100) for a in answers] == list(range(8))
    assert sum(size for _, size in model.batches) == 8
    assert len(model.batches) < 8 and max(size for _, size in model.batches) <= 4
    assert batcher.stats.frames == 8 and batcher.stats.mean_batch > 1


def test_a_lone_camera_is_answered_without_a_full_batch():
    model = CountingModel()
    batcher = DynamicBatcher(model, max_batch=64, max_wait_s=0.01)
    try:
        assert round(batcher.detect(frame(7)).confidence[0] * 100) == 7
    finally:
        batcher.close()
    assert model.batches == [(None, 1)]


def test_frames_of_different_inference_sizes_never_share_a_batch():
    model = CountingModel()
    model.release.clear()
    batcher = DynamicBatcher(model, max_batch=8, max_wait_s=0.05)
    try:
        futures = [batcher.submit(frame(v), imgsz=640 if v % 2 else 1280) for v in range(6)]
        model.release.set()
        answers = [f.result(10) for f in futures]
    finally:
        batcher.close()
    assert [round(a.confidence[0] * 100) for a in answers] == list(range(6))
    assert sum(size for _, size in model.batches) == 6
    assert {size for size, _ in model.batches} == {640, 1280}


def test_a_failing_batch_fails_its_callers_and_the_next_batch_is_served():
    model = CountingModel(fail_on=3)
    batcher = DynamicBatcher(model, max_batch=1, max_wait_s=0.0)
    try:
        with pytest.raises(RuntimeError, match="model failed"):
            batcher.detect(frame(3))
        assert round(batcher.detect(frame(4)).confidence[0] * 100) == 4
    finally:
        batcher.close()


@pytest.mark.model
def test_yolo_detect_batch_finds_what_detect_finds(yolo):
    import cv2

    from faultkit import DEMO_VIDEO

    capture = cv2.VideoCapture(str(DEMO_VIDEO))
    images = []
    for index in range(200):
        ok, image = capture.read()
        assert ok
        if index in (60, 199):
            images.append(image)
    capture.release()
    one_by_one = [yolo.detect(image, imgsz=640) for image in images]
    batched = yolo.detect_batch(images, imgsz=640)
    for single, batch in zip(one_by_one, batched, strict=True):
        assert len(single) > 0 and list(single.class_name) == list(batch.class_name)
        assert np.allclose(single.xyxy, batch.xyxy, atol=2.0)
