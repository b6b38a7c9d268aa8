"""Static-scene gating: skip the detector while nothing changes around the zones.

Fire-lane cameras watch still scenes most of the time. A cheap difference of a small grey copy of the zone
surroundings against the last frame that was detected tells whether anything moved; while nothing did, the last
detections still hold. A detection is forced at least every ``max_skip_s`` so a parked vehicle keeps being
confirmed and evidence stays current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
from shapely.geometry import Polygon

WORK_WIDTH = 160  # pixels: enough to see a car arrive, cheap enough to cost well under a millisecond


@dataclass
class MotionGate:
    polygons: list[Polygon]
    frame_size: tuple[int, int]
    max_skip_s: float = 5.0
    margin: float = 0.15  # grow the zone area by this share of the frame, to see objects coming in
    pixel_threshold: int = 18  # grey-level change that counts as a changed pixel
    changed_share: float = 0.004  # share of the watched pixels that must change
    detections_skipped: int = 0
    detections_run: int = 0
    _mask: np.ndarray = field(init=False, repr=False)
    _reference: np.ndarray | None = field(default=None, init=False, repr=False)
    _reference_at: datetime | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        width, height = self.frame_size
        scale = WORK_WIDTH / width
        size = (WORK_WIDTH, max(1, round(height * scale)))
        mask = np.zeros((size[1], size[0]), np.uint8)
        for polygon in self.polygons:
            points = np.asarray(polygon.exterior.coords, dtype=np.float64) * scale
            cv2.fillPoly(mask, [points.round().astype(np.int32)], 255)
        grow = max(1, round(self.margin * size[0]))
        self._mask = cv2.dilate(mask, np.ones((grow, grow), np.uint8)) > 0
        self._size = size

    def _small(self, image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(cv2.resize(image, self._size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def needs_detection(self, image: np.ndarray, at: datetime) -> bool:
        """True when the zone surroundings changed since the last detected frame, or it is time to re-check."""
        small = self._small(image)
        due = self._reference is None or (at - self._reference_at).total_seconds() >= self.max_skip_s
        if not due:
            diff = cv2.absdiff(small, self._reference)[self._mask]
            due = diff.size == 0 or np.count_nonzero(diff > self.pixel_threshold) > self.changed_share * diff.size
        if due:
            self._reference, self._reference_at = small, at
            self.detections_run += 1
        else:
            self.detections_skipped += 1
        return due
