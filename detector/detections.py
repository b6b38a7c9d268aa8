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

    ``xyxy`` is in pixels of the frame; ``tracker_id`` is -1 until a tracker assigns one.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_name: np.ndarray
    category: np.ndarray
    tracker_id: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        object.__setattr__(self, "xyxy", np.asarray(self.xyxy, dtype=np.float32).reshape(n, 4))
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(n))
        object.__setattr__(self, "class_name", np.asarray(self.class_name, dtype=object).reshape(n))
        object.__setattr__(self, "category", np.asarray(self.category, dtype=object).reshape(n))
        ids = np.full(n, -1, dtype=np.int64) if self.tracker_id is None else self.tracker_id
        object.__setattr__(self, "tracker_id", np.asarray(ids, dtype=np.int64).reshape(n))

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
        )

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_name, self.category, tracker_id)

    def of_categories(self, categories: tuple[str, ...] = CATEGORIES) -> Detections:
        return self[np.isin(self.category, categories)]
