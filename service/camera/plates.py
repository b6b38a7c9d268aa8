"""The plate of one vehicle in violation, read across frames: throttled readings of its crops, voted into one.

A parked vehicle stays for minutes, so there is no hurry and no need to read every frame: a reading every
``every_s`` of capture time, at most ``max_readings`` per violation, and none once the vote is sure. The best
crop (the surest reading of the voted plate) is kept for the evidence.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

from detector.plate_rules import PlateText, resolve_text
from detector.plate_vote import vote, vote_colour
from detector.plates import PlateReading

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

SURE = 0.95  # a vote this sure after MIN_AGREEING readings needs no more
MIN_AGREEING = 3
VEHICLE_MARGIN = 0.08  # of the box, around the vehicle's crop: its plate may touch the box's edge


class PlateReaderLike(Protocol):
    def read(self, image: np.ndarray) -> list[PlateReading]: ...


@dataclass(frozen=True)
class PlateResult:
    text: str
    confidence: float
    colour: str
    readings: int

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 3), "colour": self.colour,
                "readings": self.readings}

    @classmethod
    def from_json(cls, data: dict | None) -> PlateResult | None:
        return cls(data["text"], float(data["confidence"]), data["colour"], int(data["readings"])) if data else None


@dataclass
class ViolationPlate:
    """Readings of one violation's vehicle so far and what they vote for."""

    min_confidence: float = 0.0  # a vote less sure than this is not reported
    prior: PlateResult | None = None  # the vote a camera had before it restarted (its readings are gone)
    readings: list[PlateReading] = field(default_factory=list)
    read_at: list[datetime] = field(default_factory=list)  # capture time of each reading
    attempts: int = 0
    last_attempt_at: datetime | None = None
    result: PlateResult | None = None
    best_crop: np.ndarray | None = None
    best_crop_at: datetime | None = None

    def __post_init__(self) -> None:
        self.result = self.result or self.prior

    @property
    def reported(self) -> PlateResult | None:
        """The vote, when it is sure enough to name a vehicle."""
        return self.result if self.result is not None and self.result.confidence >= self.min_confidence else None

    def due(self, at: datetime, every_s: float, max_readings: int) -> bool:
        if self.attempts >= max_readings:
            return False
        if self.result is not None and self.result.confidence >= SURE and len(self.readings) >= MIN_AGREEING:
            return False
        return self.last_attempt_at is None or (at - self.last_attempt_at).total_seconds() >= every_s

    def read(self, reader: PlateReaderLike, image: np.ndarray, box, at: datetime) -> bool:
        """Read the vehicle's crop once; True when the voted plate or its best crop changed."""
        self.attempts += 1
        self.last_attempt_at = at
        crop = vehicle_crop(image, box)
        if crop is None:
            return False
        found = reader.read(crop)
        if not found:
            return False
        self.readings.append(max(found, key=lambda r: r.confidence))  # one vehicle, one plate: its surest
        self.read_at.append(at)
        before = (self.result, self.best_crop_at)
        self._vote()
        if self.result is not None:
            # the crop shown is the surest one read as the voted plate (the surest of all while none agrees)
            kept = [(r.confidence, t, r) for r, t in zip(self.readings, self.read_at) if r.crop is not None]
            agreeing = [k for k in kept if k[2].text == self.result.text]
            if kept:
                _, self.best_crop_at, best = max(agreeing or kept, key=lambda k: k[0])
                self.best_crop = best.crop
        return (self.result, self.best_crop_at) != before

    def _vote(self) -> None:
        texts: list[PlateText] = [r.plate for r in self.readings]
        if self.prior is not None:  # the restarted camera's vote counts as one reading
            prior = resolve_text(self.prior.text, self.prior.confidence)
            texts += [prior] if prior is not None else []
        colour = vote_colour([(r.colour, r.confidence) for r in self.readings])
        plate = vote(texts, colour if colour in ("blue", "yellow", "green") else None) or vote(texts)
        if plate is None:
            self.result = self.prior
            return
        colour = colour if colour in plate.format.colours else plate.format.colours[0]
        self.result = PlateResult(plate.text, plate.confidence, colour, len(self.readings) + (self.prior is not None))


def vehicle_crop(image: np.ndarray, box) -> np.ndarray | None:
    """The vehicle's box and a margin, clipped to the frame (None when nothing of it is inside)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * VEHICLE_MARGIN, (y2 - y1) * VEHICLE_MARGIN
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(width, int(x2 + mx + 1)), min(height, int(y2 + my + 1))
    if right - left < 16 or bottom - top < 16:
        return None
    return image[top:bottom, left:right]


_shared: dict[float, PlateReaderLike | None] = {}
_shared_lock = threading.Lock()


def shared_plate_reader(min_confidence: float) -> PlateReaderLike | None:
    """One reader per process, shared by its cameras (onnxruntime sessions run concurrently); None, with a
    warning, when its models cannot be loaded: violations are still recorded, without a plate."""
    from detector.plates import PlateReader, PlateReaderError

    with _shared_lock:
        if min_confidence not in _shared:
            try:
                _shared[min_confidence] = PlateReader(min_confidence=min_confidence)
            except PlateReaderError as error:
                log.warning("plates are not read: %s", error)
                _shared[min_confidence] = None
        return _shared[min_confidence]


def plate_options(settings: Settings) -> dict:
    """The plate-reading arguments of a ``CameraPipeline`` from the settings (no reader when reading is off)."""
    return {
        "plate_reader": shared_plate_reader(settings.plate_min_confidence) if settings.read_plates else None,
        "plate_every_s": settings.plate_every_s,
        "plate_max_readings": settings.plate_max_readings,
        "plate_min_confidence": settings.plate_min_confidence,
    }
