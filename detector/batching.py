"""Dynamic batching: many cameras' frames through one model in batches instead of one at a time behind a lock.

Callers (camera threads, or Ray calls into a node's detector actor) each hand in one frame and wait for its
``Detections``. One thread takes what is waiting: it runs a batch as soon as ``max_batch`` frames of the same
inference size are there, or when the oldest has waited ``max_wait_s``, so a lone camera is delayed at most that
long and a busy node fills its batches. Frames of different inference sizes never share a batch (one letterbox size
per model call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from detector.backends import Detector
from detector.detections import Detections


def detect_batch(detector: Detector, images: Sequence[np.ndarray], imgsz: int | None) -> list[Detections]:
    """``detector.detect_batch`` where the backend has one (one model call), else one call per image."""
    batched = getattr(detector, "detect_batch", None)
    if batched is not None:
        return batched(images, imgsz=imgsz)
    return [detector.detect(image, imgsz=imgsz) for image in images]


@dataclass
class BatchStats:
    batches: int = 0
    frames: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # batch size → how many batches had it

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


@dataclass(eq=False)  # compared by identity: removed from the queue as itself, never by its frame's pixels
class _Request:
    image: np.ndarray
    imgsz: int | None
    future: Future
    since: float


class DynamicBatcher:
    """Thread-safe ``detect(image, imgsz)`` that batches concurrent calls (see the module docstring)."""

    def __init__(self, detector: Detector, max_batch: int = 8, max_wait_s: float = 0.05):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be at least 1 and max_wait_s not negative")
        self.detector = detector
        self.name = f"{detector.name} (batches of up to {max_batch}, {max_wait_s * 1000:.0f} ms wait)"
        self.class_names = detector.class_names
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._waiting: list[_Request] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="detector-batcher", daemon=True)
        self._thread.start()

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        return self.submit(image, imgsz).result()

    def submit(self, image: np.ndarray, imgsz: int | None = None) -> Future:
        future: Future = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the detector batcher is closed")
            self._waiting.append(_Request(image, imgsz, future, time.monotonic()))
            self._changed.notify()
        return future

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join(timeout=30)

    def _next_batch(self) -> list[_Request] | None:
        """Wait until a batch is full or its oldest frame has waited long enough; None once closed and empty."""
        with self._changed:
            while True:
                if self._waiting:
                    oldest = self._waiting[0]
                    same = [r for r in self._waiting if r.imgsz == oldest.imgsz][: self.max_batch]
                    wait = oldest.since + self.max_wait_s - time.monotonic()
                    if len(same) >= self.max_batch or wait <= 0 or self._closed:
                        for request in same:
                            self._waiting.remove(request)
                        return same
                    self._changed.wait(wait)
                elif self._closed:
                    return None
                else:
                    self._changed.wait()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                found = detect_batch(self.detector, [r.image for r in batch], batch[0].imgsz)
            except Exception as error:  # noqa: BLE001 - every caller of this batch gets the error
                for request in batch:
                    request.future.set_exception(error)
                continue
            self.stats.batches += 1
            self.stats.frames += len(batch)
            self.stats.sizes[len(batch)] = self.stats.sizes.get(len(batch), 0) + 1
            for request, detections in zip(batch, found, strict=True):
                request.future.set_result(detections)
