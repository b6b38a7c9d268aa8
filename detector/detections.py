"""The one value that flows from detector to tracker to zones: boxes with their class and category."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VEHICLE = "vehicle"
OBSTACLE = "obstacle"
OBSTRUCTION = "obstruction"  # something at rest in a lane that no detector class names (不明占用物)
IGNORED = "ignored"
CATEGORIES = (VEHICLE, OBSTACLE, OBSTRUCTION)


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame, as parallel arrays (like supervision's ``Detections``).

    ``xyxy`` is in pixels of the frame; ``tracker_id`` is -1 until a tracker assigns one; ``still_since`` (POSIX
    seconds, NaN when unknown) is when an object was already known to be at rest before this frame: the lane
    model confirms stillness over seconds, and the dwell counts from then.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_name: np.ndarray
    category: np.ndarray
    tracker_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    still_since: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, dtype=np.float32).reshape(n, 4))
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(n))
        object.__setattr__(self, "class_name", np.asarray(self.class_name, dtype=object).reshape(n))
        object.__setattr__(self, "category", np.asarray(self.category, dtype=object).reshape(n))
        ids = np.full(n, -1, dtype=np.int64) if self.tracker_id is None else self.tracker_id
        object.__setattr__(self, "tracker_id", np.asarray(ids, dtype=np.int64).reshape(n))
        since = np.full(n, np.nan) if self.still_since is None else self.still_since
        object.__setattr__(self, "still_since", np.asarray(since, dtype=np.float64).reshape(n))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=object), np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select rows with a boolean mask, index list or slice, keeping every column aligned."""
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_name[index],
            self.category[index],
            self.tracker_id[index],
            self.still_since[index],
        )

    @classmethod
    def concat(cls, *parts: Detections) -> Detections:
        """Rows of every part, in order (e.g. the detector's objects and the lane model's obstructions)."""
        parts = tuple(p for p in parts if len(p)) or (cls.empty(),)
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.confidence for p in parts]),
                   np.concatenate([p.class_name for p in parts]), np.concatenate([p.category for p in parts]),
                   np.concatenate([p.tracker_id for p in parts]), np.concatenate([p.still_since for p in parts]))

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_name, self.category, tracker_id, self.still_since)

    def of_categories(self, categories: tuple[str, ...] = CATEGORIES) -> Detections:
        return self[np.isin(self.category, categories)]
