"""How large the detector should see a camera's frame: never larger than the camera made it, and no smaller
than its zones need.

The rule (``inference_size``), as a multiple of the model's stride:

1. **Ceiling: the frame's native size.** The long side, rounded up to the stride, and at most ``max_imgsz``.
   Enlarging the whole frame adds no detail and changes what the detector sees: a suitcase on a 720x576
   platform was found at 640 and lost at 1280. Small objects get enlarged crops instead (``detector.tiling``).
   A camera's explicit ``imgsz`` bypasses this function and may enlarge the frame.
2. **Need: what the zones hold.** A bay or a lane is about one vehicle wide, so a zone's narrow width (the short
   side of its minimum rotated rectangle) is the size of a vehicle standing in it, and the smallest thing worth
   finding there (a motorbike, a chair, a stack of goods) is a quarter of it. The frame is scaled so that this
   smallest object spans ``SMALL_OBJECT_PX`` in the network input, the size below which YOLO-n's recall falls
   away (PKLot's far cars, 20-40 px at imgsz 640, lost a quarter of their recall).
3. **Floor: the model's training size** (640), unless the ceiling is lower: below it the saving is small and the
   zones' estimate may be wrong about what enters them.

So zones that are wide in the frame (a close camera) let a large frame run smaller; zones that are narrow keep
the native size, and whatever they still need beyond it is the tiles' job (``needs_enlargement``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from shapely.geometry import Polygon

MAX_IMGSZ = 1280
STRIDE = 32
TRAINED_IMGSZ = 640
SMALL_OBJECT_PX = 32
SMALLEST_OBJECT_FRACTION = 0.25


def round_up(value: float, stride: int = STRIDE) -> int:
    return int(math.ceil(value / stride - 1e-9)) * stride


def zone_width_px(polygon: Polygon) -> float:
    """The zone's narrow width: about the size of a vehicle standing in it."""
    corners = list(polygon.minimum_rotated_rectangle.exterior.coords)
    return min(math.dist(corners[0], corners[1]), math.dist(corners[1], corners[2]))


def smallest_object_px(polygon: Polygon) -> float:
    """The smallest object worth finding in the zone, in frame pixels."""
    return SMALLEST_OBJECT_FRACTION * zone_width_px(polygon)


def inference_size(frame_size: tuple[int, int], zone_polygons: Sequence[Polygon], *, max_imgsz: int = MAX_IMGSZ,
                   stride: int = STRIDE) -> int:
    """The inference size (long side) for frames of ``frame_size`` (width, height) watched through these zones."""
    long_side = max(frame_size)
    ceiling = min(round_up(long_side, stride), round_up(max_imgsz, stride))
    if not zone_polygons:
        return ceiling
    smallest = min(smallest_object_px(p) for p in zone_polygons)
    needed = round_up(long_side * SMALL_OBJECT_PX / max(smallest, 1.0), stride)
    return max(min(needed, ceiling), min(TRAINED_IMGSZ, ceiling))


def needs_enlargement(polygon: Polygon, scale: float) -> bool:
    """Whether the zone's smallest object stays under ``SMALL_OBJECT_PX`` when the frame is scaled by ``scale``."""
    return smallest_object_px(polygon) * scale < SMALL_OBJECT_PX
