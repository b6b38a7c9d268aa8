"""Zone-focused detection: the full frame plus enlarged tiles over the zones whose objects are small, merged into
one box per object.

Why: a car of 16x20 px on a far road edge is below what YOLO-n finds at any whole-frame size, and enlarging the
whole frame costs its square and changes how large objects look; a crop around the zone, enlarged, brings the
car to the detector's working size. Each tile is one more detector call, so tiles cover only the zones that need
them, and only as many as ``max_tiles``.

Layout (``ZoneTiles.plan``):

- a zone needs tiles when its smallest object (``detector.sizing``) stays under ``SMALL_OBJECT_PX`` at the full
  frame's inference scale (``tiles="auto"``), or always (``"on"``); ``"off"`` plans none;
- each such zone's box is grown by the zone's width on every side (a vehicle standing in the zone sticks out by
  about its own size), and grown boxes that touch form one region;
- one enlargement for all tiles: enough for the smallest object to reach ``SMALL_OBJECT_PX``, at most
  ``MAX_ENLARGEMENT`` (beyond it upscaling only blurs), at least ``MIN_GAIN`` times the full frame's scale (less
  finds nothing the full frame misses);
- a region is cut into tiles of ``tile_imgsz`` input pixels overlapping by its widest zone's width, so an object
  of zone size lies whole in at least one tile;
- more than ``max_tiles``: the enlargement comes down step by step to its least; still more, and the zone with the
  largest objects is left to the full frame, and so on.

Merge (``merge_found``), among boxes of one kind (the category for the categories firelane acts on, so a car and
a truck on one spot are one vehicle; the class for anything else):

- boxes overlapping by IoU >= ``DUPLICATE_IOU`` are one object: the best-scoring box not cut by a tile edge stays;
- a box cut by a tile edge inside the frame that lies mostly (``CONTAINED``) within another box is part of it;
- two boxes cut by the facing edges of two overlapping tiles, overlapping each other and level across the cut,
  are the halves of one object: their union;
- a cut box that joined nothing is dropped: an object of zone size lies whole in some tile, larger ones are the
  full frame's.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import shapely.affinity
from shapely.geometry import Polygon

from detector.backends import Detector
from detector.detections import CATEGORIES, Detections
from detector.sizing import (
    MAX_IMGSZ, SMALL_OBJECT_PX, inference_size, needs_enlargement, round_up, smallest_object_px, zone_width_px,
)

TileMode = Literal["auto", "on", "off"]
TILE_MODES: tuple[TileMode, ...] = ("auto", "on", "off")
TILE_IMGSZ = 640
MAX_TILES = 4
MAX_ENLARGEMENT = 4.0
MIN_GAIN = 1.5
ENLARGEMENT_STEP = 1.15
DUPLICATE_IOU = 0.5
CONTAINED = 0.8
LEVEL = 0.6
EDGE_TOLERANCE_PX = 3  # in tile input pixels: a box this close to a tile edge was cut by it
TIMINGS_KEPT = 1000


@dataclass(frozen=True)
class Tile:
    """A crop of the frame (pixels, x1/y1 exclusive) and its enlargement; ``inner`` says which of its edges
    (left, top, right, bottom) lie inside the frame, where they may cut an object in two."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float
    inner: tuple[bool, bool, bool, bool]

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1


def _spans(lo: float, hi: float, side: float, overlap: float) -> list[tuple[int, int]]:
    """Equal windows of ``side`` covering [lo, hi], neighbours overlapping by at least ``overlap``."""
    length = hi - lo
    if length <= side:
        return [(math.floor(lo), math.ceil(hi))]
    count = math.ceil((length - overlap) / (side - overlap))
    starts = [lo + i * (length - side) / (count - 1) for i in range(count)]
    return [(math.floor(s), min(math.ceil(s + side), math.ceil(hi))) for s in starts]


def _touch(a: list[float], b: list[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _regions(frame_size: tuple[int, int], zones: Sequence[Polygon]) -> list[tuple[list[float], float]]:
    """Zone boxes grown by the zone's width, touching ones joined: (box, widest zone width) per region."""
    width, height = frame_size
    regions = []
    for zone in zones:
        grow = zone_width_px(zone)
        x0, y0, x1, y1 = zone.bounds
        grown = [max(0.0, x0 - grow), max(0.0, y0 - grow), min(width, x1 + grow), min(height, y1 + grow)]
        regions.append((grown, grow))
    while pair := next(((i, j) for i, j in itertools.combinations(range(len(regions)), 2)
                        if _touch(regions[i][0], regions[j][0])), None):
        (a, widest_a), (b, widest_b) = regions[pair[0]], regions.pop(pair[1])
        union = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
        regions[pair[0]] = (union, max(widest_a, widest_b))
    return regions


def _cover(frame_size: tuple[int, int], zones: Sequence[Polygon], scale: float, tile_imgsz: int) -> list[Tile]:
    width, height = frame_size
    side = tile_imgsz / scale
    tiles = []
    for (x0, y0, x1, y1), widest in _regions(frame_size, zones):
        overlap = min(widest, side / 2)
        for ty0, ty1 in _spans(y0, y1, side, overlap):
            for tx0, tx1 in _spans(x0, x1, side, overlap):
                tiles.append(Tile(tx0, ty0, tx1, ty1, scale, (tx0 > 0, ty0 > 0, tx1 < width, ty1 < height)))
    return tiles


@dataclass(frozen=True)
class ZoneTiles:
    """The tiles one camera's frames are detected on besides the full frame (none when they are not worth it)."""

    frame_size: tuple[int, int]
    tiles: tuple[Tile, ...] = ()

    @classmethod
    def plan(cls, frame_size: tuple[int, int], zone_polygons: Sequence[Polygon], *, full_imgsz: int,
             tiles: TileMode = "auto", tile_imgsz: int = TILE_IMGSZ, max_tiles: int = MAX_TILES) -> ZoneTiles:
        if tiles not in TILE_MODES:
            raise ValueError(f"tiles must be one of {', '.join(TILE_MODES)}, not {tiles!r}")
        full_scale = full_imgsz / max(frame_size)
        least = full_scale * MIN_GAIN
        zones = sorted(zone_polygons, key=smallest_object_px)
        if tiles == "auto":
            zones = [z for z in zones if needs_enlargement(z, full_scale)]
        if tiles == "off" or least > MAX_ENLARGEMENT:
            zones = []
        while zones:
            scales = [min(MAX_ENLARGEMENT, max(least, SMALL_OBJECT_PX / smallest_object_px(zones[0])))]
            while scales[-1] > least:
                scales.append(max(least, scales[-1] / ENLARGEMENT_STEP))
            for scale in scales:
                layout = _cover(frame_size, zones, scale, tile_imgsz)
                if len(layout) <= max_tiles:
                    return cls(frame_size, tuple(layout))
            zones = zones[:-1]
        return cls(frame_size)

    def to_json(self) -> dict:
        return {"frame_size": list(self.frame_size), "count": len(self.tiles),
                "enlargement": round(self.tiles[0].scale, 2) if self.tiles else None,
                "tiles": [list(t.bounds) for t in self.tiles]}


@dataclass
class _Box:
    xyxy: np.ndarray
    score: float
    class_name: str
    category: str
    tile: Tile | None = None  # None: found on the full frame
    cut: tuple[bool, bool, bool, bool] = (False, False, False, False)  # left, top, right, bottom

    @property
    def kind(self) -> str:
        return self.category if self.category in CATEGORIES else self.class_name

    @property
    def is_cut(self) -> bool:
        return any(self.cut)


@dataclass
class _Group:
    members: list[_Box] = field(default_factory=list)

    @property
    def box(self) -> np.ndarray:
        """The best uncut box; pieces alone make their union."""
        if not self.members[0].is_cut:
            return self.members[0].xyxy
        boxes = np.array([m.xyxy for m in self.members])
        return np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])

    @property
    def kept(self) -> bool:
        """A lone piece of an object is not an object."""
        return not self.members[0].is_cut or len({m.tile for m in self.members}) > 1


def _area(box: np.ndarray) -> float:
    return max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    return _area(np.concatenate([np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    return inter / (_area(a) + _area(b) - inter) if inter else 0.0


def _overlap(a: np.ndarray, b: np.ndarray, axis: int) -> float:
    return float(min(a[axis + 2], b[axis + 2]) - max(a[axis], b[axis]))


def _halves(a: _Box, b: _Box) -> bool:
    """``a`` and ``b`` are pieces of one object cut by the facing edges of two overlapping tiles."""
    if a.tile is None or b.tile is None or a.tile is b.tile:
        return False
    for axis in (0, 1):
        across = 1 - axis
        shorter = min(a.xyxy[across + 2] - a.xyxy[across], b.xyxy[across + 2] - b.xyxy[across])
        if _overlap(a.xyxy, b.xyxy, axis) <= 0 or _overlap(a.xyxy, b.xyxy, across) < LEVEL * shorter:
            continue
        for first, second in ((a, b), (b, a)):
            if first.cut[axis + 2] and second.cut[axis] and second.tile.bounds[axis] < first.tile.bounds[axis + 2]:
                return True
    return False


def _belongs(box: _Box, group: _Group) -> bool:
    if _iou(box.xyxy, group.box) >= DUPLICATE_IOU:
        return True
    if not box.is_cut:
        return False
    if _intersection(box.xyxy, group.box) >= CONTAINED * _area(box.xyxy):
        return True
    return any(_halves(box, member) for member in group.members if member.is_cut)


def merge_found(found: Sequence[tuple[Detections, Tile | None]]) -> Detections:
    """One box per object from detections in frame pixels, each with the tile it was found on (None: full frame)."""
    boxes = []
    for detections, tile in found:
        for i in range(len(detections)):
            xyxy = detections.xyxy[i]
            cut = (False, False, False, False)
            if tile is not None:
                near = EDGE_TOLERANCE_PX / tile.scale
                cut = (tile.inner[0] and xyxy[0] <= tile.x0 + near, tile.inner[1] and xyxy[1] <= tile.y0 + near,
                       tile.inner[2] and xyxy[2] >= tile.x1 - near, tile.inner[3] and xyxy[3] >= tile.y1 - near)
            boxes.append(_Box(xyxy, float(detections.confidence[i]), str(detections.class_name[i]),
                              str(detections.category[i]), tile, cut))
    groups: list[_Group] = []
    for box in sorted(boxes, key=lambda b: (b.is_cut, -b.score)):
        group = next((g for g in groups if g.members[0].kind == box.kind and _belongs(box, g)), None)
        if group is None:
            groups.append(_Group([box]))
        else:
            group.members.append(box)
    kept = [g for g in groups if g.kept]
    if not kept:
        return Detections.empty()
    return Detections(np.array([g.box for g in kept]), [g.members[0].score for g in kept],
                      [g.members[0].class_name for g in kept], [g.members[0].category for g in kept])


class TiledDetector:
    """A ``Detector`` that runs ``detector`` on the full frame and on tiles over the zones, one box per object.

    ``frame_size`` is the size the zone polygons were drawn on; frames of another size get the zones scaled, as the
    pipeline scales them. The full frame runs at the size ``detect`` is given (the camera's explicit ``imgsz``),
    else at ``inference_size`` of the frame and the zones, at most ``max_imgsz``.
    """

    def __init__(self, detector: Detector, frame_size: tuple[int, int], zone_polygons: Sequence[Polygon], *,
                 tiles: TileMode = "auto", max_imgsz: int = MAX_IMGSZ,
                 tile_imgsz: int = TILE_IMGSZ, max_tiles: int = MAX_TILES):
        if tiles not in TILE_MODES:
            raise ValueError(f"tiles must be one of {', '.join(TILE_MODES)}, not {tiles!r}")
        self.detector = detector
        self.name = f"{detector.name} + zone tiles ({tiles})"
        self.class_names = detector.class_names
        self.frame_size = tuple(frame_size)
        self.zone_polygons = list(zone_polygons)
        self.tiles = tiles
        self.max_imgsz = max_imgsz
        self.tile_imgsz = tile_imgsz
        self.max_tiles = max_tiles
        self._layouts: dict[tuple[int, int, int], ZoneTiles] = {}
        # (full frame, tiles) seconds of recent calls: what the tiles cost, measured on the same frames
        self.timings: deque[tuple[float, float]] = deque(maxlen=TIMINGS_KEPT)

    def layout(self, frame_size: tuple[int, int], imgsz: int | None = None) -> tuple[int, ZoneTiles]:
        """The full frame's inference size and the tiles, for frames of ``frame_size``."""
        width, height = frame_size
        zones = self.zone_polygons
        if (width, height) != self.frame_size:
            sx, sy = width / self.frame_size[0], height / self.frame_size[1]
            zones = [shapely.affinity.scale(z, sx, sy, origin=(0, 0)) for z in zones]
        full = imgsz or inference_size((width, height), zones, max_imgsz=self.max_imgsz)
        if (width, height, full) not in self._layouts:
            self._layouts[width, height, full] = ZoneTiles.plan(
                (width, height), zones, full_imgsz=full, tiles=self.tiles, tile_imgsz=self.tile_imgsz,
                max_tiles=self.max_tiles)
        return full, self._layouts[width, height, full]

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        height, width = image.shape[:2]
        full, layout = self.layout((width, height), imgsz)
        started = time.perf_counter()
        whole = self.detector.detect(image, imgsz=full)
        full_s = time.perf_counter() - started
        if not layout.tiles:
            self.timings.append((full_s, 0.0))
            return whole
        found: list[tuple[Detections, Tile | None]] = [(whole, None)]
        for tile in layout.tiles:
            crop = image[tile.y0:tile.y1, tile.x0:tile.x1]
            size = (round(crop.shape[1] * tile.scale), round(crop.shape[0] * tile.scale))
            enlarged = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
            detections = self.detector.detect(enlarged, imgsz=round_up(max(size)))
            scale = np.array([size[0] / crop.shape[1], size[1] / crop.shape[0]] * 2, dtype=np.float32)
            offset = np.array([tile.x0, tile.y0] * 2, dtype=np.float32)
            found.append((Detections(detections.xyxy / scale + offset, detections.confidence,
                                     detections.class_name, detections.category), tile))
        merged = merge_found(found)
        self.timings.append((full_s, time.perf_counter() - started - full_s))
        return merged
