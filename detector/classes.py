"""Model class names → firelane categories (vehicle / obstacle / ignored)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from detector.detections import IGNORED, OBSTACLE, VEHICLE

log = logging.getLogger(__name__)

COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

DEFAULT_VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")
# What COCO can see of the things that block lanes: stalls (umbrella, table, chair), dumped furniture and
# appliances, planters, stacked luggage-like goods.
DEFAULT_OBSTACLES = (
    "bench", "chair", "couch", "bed", "dining table", "potted plant", "umbrella", "suitcase",
    "refrigerator", "oven", "toilet", "sink",
)  # fmt: skip


@dataclass
class ClassMap:
    """Maps a model's class names to categories; names it was not told about are reported once, then ignored."""

    vehicles: frozenset[str] = frozenset(DEFAULT_VEHICLES)
    obstacles: frozenset[str] = frozenset(DEFAULT_OBSTACLES)
    ignored: frozenset[str] = frozenset(set(COCO_NAMES) - set(DEFAULT_VEHICLES) - set(DEFAULT_OBSTACLES))
    unknown_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        clash = (self.vehicles & self.obstacles) | ((self.vehicles | self.obstacles) & self.ignored)
        if clash:
            raise ValueError(f"class names mapped to more than one category: {sorted(clash)}")

    @property
    def known(self) -> frozenset[str]:
        return self.vehicles | self.obstacles | self.ignored

    def category(self, name: str) -> str:
        if name in self.vehicles:
            return VEHICLE
        if name in self.obstacles:
            return OBSTACLE
        if name not in self.ignored and name not in self.unknown_seen:
            self.unknown_seen.add(name)
            log.warning("model class %r is not in the class map: ignored (map it to vehicle or obstacle in settings)", name)
        return IGNORED

    def check_model_classes(self, names: Iterable[str]) -> list[str]:
        """Report, at load time, which classes of a model this map does not know."""
        unknown = sorted(set(names) - self.known)
        if unknown:
            log.warning("model classes not in the class map (they will be ignored): %s", ", ".join(unknown))
            self.unknown_seen.update(unknown)
        return unknown
