"""Obstructions: what comes to rest in a lane whether or not a detector class names it.

The lane model (``detector.appearance``) finds regions that differ from the empty lane and stay. Each such blob
is shown to the detector again, enlarged, because a small or far object that the full frame misses is often
named in a close-up: a person standing there is dropped (people are never obstructions), a vehicle or an obstacle
keeps its class and category, and anything else is an ``obstruction`` (with the detector's class name when it had
one, e.g. a backpack). Blobs the full-frame detections already cover are left to them, so one object is one
occupant. The verdict on a blob is kept and re-checked every ``recheck_s``, so the detector runs on crops only
when something new appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from detector.appearance import LaneAppearance, StaticBlob
from detector.backends import Detector
from detector.detections import OBSTACLE, OBSTRUCTION, VEHICLE, Detections

LIVING = frozenset({"person", "bird", "cat", "dog", "horse", "sheep", "cow"})  # they move on by themselves
CROP_SCALE = 3.0  # context around a blob, in blob sizes: detectors need to see the object's surroundings
MIN_CROP_PX = 96
BLOB_IDS_FROM = 1_000_000_000  # tracker ids of blobs: one per blob for as long as the lane model keeps it
COVERED = 0.5  # share of a blob inside a detection's box that makes it that detection's object
NAME_CONFIDENCE = 0.5  # below this a class name on an obstruction misleads more than "obstruction" does
LOOK_EVERY_S = 0.5  # the lane model looks at most twice a second: what rests is judged over seconds, and a
# camera sampled faster for its moving traffic (5 fps) would otherwise pay the lane model on every frame


@dataclass(frozen=True)
class _Verdict:
    class_name: str | None  # None: not an obstruction (a person, an animal)
    category: str
    checked_at: datetime


def _inside_share(blob: tuple[float, ...], boxes: np.ndarray) -> np.ndarray:
    """Share of the blob's box area inside each of ``boxes``."""
    if len(boxes) == 0:
        return np.zeros(0)
    x1 = np.maximum(boxes[:, 0], blob[0])
    y1 = np.maximum(boxes[:, 1], blob[1])
    x2 = np.minimum(boxes[:, 2], blob[2])
    y2 = np.minimum(boxes[:, 3], blob[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = max((blob[2] - blob[0]) * (blob[3] - blob[1]), 1e-6)
    return inter / area


@dataclass
class ObstructionFinder:
    appearance: LaneAppearance
    detector: Detector
    recheck_s: float = 10.0
    look_every_s: float = LOOK_EVERY_S
    crops_run: int = 0
    _looked_at: datetime | None = None
    _blobs: list[StaticBlob] = field(default_factory=list)
    _verdicts: dict[datetime, _Verdict] = field(default_factory=dict)
    _ids: dict[datetime, int] = field(default_factory=dict)
    _next_id: int = 0
    _reported: dict[datetime, datetime] = field(default_factory=dict)  # blob → first frame it was reported in
    _explained: set[datetime] = field(default_factory=set)  # blobs a detected vehicle or obstacle accounts for

    def find(self, image: np.ndarray, at: datetime, detections: Detections) -> Detections:
        """Static blobs of this frame as detections, beside (never duplicating) the detector's ``detections``
        (all of them, people and ignored classes included)."""
        if self._looked_at is None or (at - self._looked_at).total_seconds() >= 0.85 * self.look_every_s:  # jitter
            self._blobs = self.appearance.update(image, at, [tuple(float(v) for v in box) for box in detections.xyxy])
            self._looked_at = at
        blobs = self._blobs  # between looks, the last look's blobs against this frame's detections
        rows: list[tuple[tuple[float, ...], float, str, str, datetime]] = []
        alive = set()
        for blob in blobs:
            key = blob.since  # a blob keeps its since while its box grows as the object settles
            alive.add(key)
            covering = np.flatnonzero(_inside_share(blob.box, detections.xyxy) >= COVERED)
            names = [str(detections.class_name[i]) for i in covering]
            if key in self._explained or any(str(detections.category[i]) in (VEHICLE, OBSTACLE) for i in covering):
                self._explained.add(key)  # the detector's occupant, for good: a vehicle driving off leaves its
                continue  # blob behind for a moment, which must not become an obstruction that "stood" all along
            if LIVING & set(names) and key not in self._ids:
                continue  # someone standing there (a known obstruction a passer-by stands by stays one)
            if names:  # named, but not a class the lanes watch (a backpack, a box): still in the way
                named = detections.confidence[covering[0]] >= NAME_CONFIDENCE
                rows.append((blob.box, float(blob.contrast), names[0] if named else OBSTRUCTION, OBSTRUCTION, key))
                continue
            verdict = self._verdicts.get(key)
            if verdict is None or (at - verdict.checked_at).total_seconds() >= self.recheck_s:
                verdict = self._verdicts[key] = self._label(image, blob, at)
            if verdict.class_name is not None:
                rows.append((blob.box, float(blob.contrast), verdict.class_name, verdict.category, key))
        for key in [k for k in self._verdicts if k not in alive]:
            del self._verdicts[key]
        for key in [k for k in self._ids if k not in alive]:
            del self._ids[key], self._reported[key]
        self._explained &= alive
        if not rows:
            return Detections.empty()
        # A blob's box grows while its object settles (or a person steps off it): one id per blob keeps it one
        # occupant, as a tracker does for moving objects.
        ids = []
        for row in rows:
            if row[4] not in self._ids:
                self._ids[row[4]], self._next_id = BLOB_IDS_FROM + self._next_id, self._next_id + 1
                self._reported[row[4]] = at
            ids.append(self._ids[row[4]])
        # Its dwell counts from the first frame it was reported in, not from the lane model's earlier "since":
        # the record claims no stillness the pipeline did not see itself (an on-screen caption, a person who
        # stood there first, would otherwise be a violation at once).
        return Detections([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                          ids, [self._reported[r[4]].timestamp() for r in rows])

    def _label(self, image: np.ndarray, blob: StaticBlob, at: datetime) -> _Verdict:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = blob.box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(CROP_SCALE * max(x2 - x1, y2 - y1), MIN_CROP_PX) / 2
        left, top = int(max(0, cx - half)), int(max(0, cy - half))
        right, bottom = int(min(width, cx + half)), int(min(height, cy + half))
        crop = image[top:bottom, left:right]
        self.crops_run += 1
        found = self.detector.detect(crop)
        if len(found):
            boxes = found.xyxy + np.array([left, top, left, top], dtype=np.float32)
            share = _inside_share(blob.box, boxes)
            best = int(np.argmax(share))
            if share[best] >= COVERED:
                name, category = str(found.class_name[best]), str(found.category[best])
                if name in LIVING:
                    return _Verdict(None, category, at)
                if category in (VEHICLE, OBSTACLE):
                    return _Verdict(name, category, at)
                if found.confidence[best] >= NAME_CONFIDENCE:
                    return _Verdict(name, OBSTRUCTION, at)
        return _Verdict(OBSTRUCTION, OBSTRUCTION, at)
