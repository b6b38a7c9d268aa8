"""Where an object stands: the bottom band of its box, not one anchor point.

A camera sees a car from above and the side; the top of its box hangs over whatever lies behind it. The band
along the bottom edge is where its wheels touch the ground, so that band is compared with the lane polygon.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

FOOTPRINT_BAND = 0.3  # share of the box height, measured up from its bottom edge


def footprints(xyxy: np.ndarray, band: float = FOOTPRINT_BAND) -> np.ndarray:
    """Footprint rectangles (shapely array) of boxes given as an (N, 4) array."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    top = xyxy[:, 3] - band * (xyxy[:, 3] - xyxy[:, 1])
    return shapely.box(xyxy[:, 0], top, xyxy[:, 2], xyxy[:, 3])


def footprint_overlap(xyxy: np.ndarray, polygon: Polygon, band: float = FOOTPRINT_BAND) -> np.ndarray:
    """Share (0..1) of each box's footprint that lies inside the polygon."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    overlap = np.zeros(len(xyxy))
    x1, y1, x2, y2 = polygon.bounds
    top = xyxy[:, 3] - band * (xyxy[:, 3] - xyxy[:, 1])
    near = (xyxy[:, 0] < x2) & (xyxy[:, 2] > x1) & (top < y2) & (xyxy[:, 3] > y1)  # cheap test first
    if near.any():
        feet = footprints(xyxy[near], band)
        area = shapely.area(feet)
        inside = shapely.area(shapely.intersection(feet, polygon))
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap[near] = np.where(area > 0, inside / area, 0.0)
    return overlap


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def relative_drift(anchor: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> float:
    """How far a box's footprint centre moved from the anchor's, in units of the anchor's diagonal."""
    ax, ay = (anchor[0] + anchor[2]) / 2, anchor[3]
    bx, by = (box[0] + box[2]) / 2, box[3]
    diagonal = float(np.hypot(anchor[2] - anchor[0], anchor[3] - anchor[1]))
    return float(np.hypot(bx - ax, by - ay)) / max(diagonal, 1.0)
