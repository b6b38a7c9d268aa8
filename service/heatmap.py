"""Where occupants stood in a camera's view: the ground footprints of its violations, accumulated.

A footprint is the bottom band (``zones.geometry.FOOTPRINT_BAND``, 30 %) of a violation's box, where the wheels
touch the ground, the same band the occupancy rule compares with the lane. The heat is drawn over the camera's
latest snapshot, or a grey canvas of the zone file's frame size (at most ``MAX_CANVAS_SIDE`` a side) when there is
none.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from zones.geometry import FOOTPRINT_BAND

DEFAULT_SIZE = (1280, 720)
MAX_CANVAS_SIDE = 1920
GREY = 96


def fitted_canvas(frame_size: tuple[int, int] | None) -> tuple[int, int]:
    """The grey canvas: the frame's shape, at most ``MAX_CANVAS_SIDE`` a side. A heat map is looked at, not
    measured, and the size a zone file or camera declares must not decide how much memory a request takes."""
    width, height = frame_size or DEFAULT_SIZE
    shrink = min(1.0, MAX_CANVAS_SIDE / max(width, height))
    return max(1, round(width * shrink)), max(1, round(height * shrink))


def read_snapshot(snapshot: Path | None) -> np.ndarray | None:
    """The snapshot as a BGR image, or None when there is none or it cannot be read."""
    return cv2.imread(str(snapshot), cv2.IMREAD_COLOR) if snapshot is not None else None


def accumulate(boxes: Sequence[Sequence[float]], size: tuple[int, int], *, scale: tuple[float, float] = (1.0, 1.0),
               band: float = FOOTPRINT_BAND) -> np.ndarray:
    """A float (height, width) array: +1 over the footprint of every box (xyxy in frame pixels × ``scale``)."""
    width, height = size
    heat = np.zeros((height, width), np.float32)
    sx, sy = scale
    for x1, y1, x2, y2 in boxes:
        top = y2 - band * (y2 - y1)
        c0, c1 = int(np.floor(min(x1, x2) * sx)), int(np.ceil(max(x1, x2) * sx))
        r0, r1 = int(np.floor(top * sy)), int(np.ceil(y2 * sy))
        c0, c1 = max(c0, 0), min(c1, width)
        r0, r1 = max(r0, 0), min(r1, height)
        if c1 > c0 and r1 > r0:
            heat[r0:r1, c0:c1] += 1.0
    return heat


def render(image: np.ndarray, heat: np.ndarray, polygons: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The heat (blurred, coloured blue → red, transparent where cold) over ``image``, zone outlines on top."""
    out = image.copy()
    if heat.max() > 0:
        sigma = max(2.0, 0.01 * float(np.hypot(*heat.shape)))
        smooth = cv2.GaussianBlur(heat, (0, 0), sigma)
        norm = smooth / float(smooth.max())
        colours = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = np.clip(norm * 1.5, 0.0, 0.75)[..., None]
        alpha[norm < 0.03] = 0.0
        out = (out.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha).astype(np.uint8)
    for polygon in polygons:
        cv2.polylines(out, [np.round(polygon).astype(np.int32)], True, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def heatmap_png(
    boxes: Sequence[Sequence[float]],
    *,
    snapshot: Path | None = None,
    canvas_size: tuple[int, int] | None = None,
    box_size: tuple[int, int] | None = None,
    polygons: Sequence[Sequence[tuple[float, float]]] = (),
    polygon_size: tuple[int, int] | None = None,
) -> bytes:
    """PNG of the footprints of ``boxes`` over the snapshot, or a grey canvas of ``canvas_size`` (``fitted_canvas``).

    ``box_size`` is the frame size the boxes' pixels refer to (the frames the worker received: a snapshot is
    one, so None there), ``polygon_size`` that of the zone polygons (the zone file's ``frame_size``); both are
    scaled to the image when they differ from it."""
    image = read_snapshot(snapshot)
    if image is None:
        width, height = fitted_canvas(canvas_size)
        image = np.full((height, width, 3), GREY, np.uint8)
        box_size = box_size or canvas_size  # boxes meant for an unreadable snapshot: the canvas is the best guess
    height, width = image.shape[:2]

    def scale_to_image(size: tuple[int, int] | None) -> tuple[float, float]:
        return (1.0, 1.0) if not size else (width / size[0], height / size[1])

    heat = accumulate(boxes, (width, height), scale=scale_to_image(box_size))
    sx, sy = scale_to_image(polygon_size)
    scaled = [np.asarray(p, np.float64) * np.asarray((sx, sy)) for p in polygons if len(p) >= 3]
    ok, encoded = cv2.imencode(".png", render(image, heat, scaled))
    if not ok:
        raise RuntimeError("could not encode the heat map as PNG")
    return encoded.tobytes()
