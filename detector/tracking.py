"""Tracking: ultralytics' ByteTrack fed with any backend's detections, one tracker per camera."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from detector.detections import Detections


class ObjectTracker:
    """Gives detections stable IDs across frames.

    ``keep_lost_s`` is how long a track that vanished may be picked up again; at 1-2 fps ByteTrack's frame-based
    buffer would otherwise forget a car hidden behind a lorry for ten seconds.
    """

    def __init__(self, fps: float, keep_lost_s: float = 30.0):
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(
            track_high_thresh=0.25,
            track_low_thresh=0.1,
            new_track_thresh=0.25,
            track_buffer=max(1, math.ceil(keep_lost_s * fps)),
            match_thresh=0.8,
            fuse_score=True,
        )
        self._tracker = BYTETracker(args)

    def update(self, detections: Detections) -> Detections:
        """Return the same detections with ``tracker_id`` set (-1 where ByteTrack did not take one)."""
        from ultralytics.engine.results import Boxes

        if len(detections) == 0:
            data = np.zeros((0, 6), dtype=np.float32)
        else:
            data = np.column_stack([detections.xyxy, detections.confidence, np.zeros(len(detections))])
        tracks = self._tracker.update(Boxes(data.astype(np.float32), (1, 1)))
        ids = np.full(len(detections), -1, dtype=np.int64)
        for row in np.asarray(tracks).reshape(-1, 8):
            ids[int(row[7])] = int(row[4])
        return detections.with_tracker_ids(ids)
