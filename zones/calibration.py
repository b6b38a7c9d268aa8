"""Clear width in metres: how much of a fire lane its occupants leave free, measured on the ground.

A fixed camera sees the lane in perspective: near the bottom of the frame a pixel covers centimetres, near the
horizon metres, so pixel widths say nothing about whether a fire engine still gets through. An operator calibrates
a zone with real distances (the corners of a rectangle on the ground, or reference points with their ground
coordinates); the image→ground homography then maps footprints and obstruction outlines onto the ground, where the
narrowest continuous gap across the lane is measured against the fire code's minimum (GB 50016 §7.1.8: 4.0 m).

Pure geometry (numpy and shapely): no I/O, no state beyond the values passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from numbers import Real
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from zones.geometry import FOOTPRINT_BAND, footprints

GB50016_MIN_CLEAR_WIDTH_M = 4.0  # GB 50016 §7.1.8: a fire lane's clear width is at least 4.0 m
COLLINEAR_TOLERANCE = 1e-2  # 3 points this close to one line (share of their spread) are on it, for a homography
MIN_DETERMINATION = 1e-3  # how firmly points fix the homography (_fit_homography); below, a pixel's error moves metres
MAX_RESIDUAL_M = 0.5  # reference points the best homography misses by more hold a typo or a point off the ground plane
MAX_DISTANCE_M = 1000.0  # no camera watches a kilometre of lane: a zone point mapped farther away sits at the horizon
ELONGATION = 1.2  # a zone whose principal second moments differ by less has no principal axis worth the name
WIDTH_DECIMALS = 3  # widths in millimetres: finer is noise, and the minimum is compared with the reported value

Point = tuple[float, float]
Severity = Literal["blocked", "narrowed", "clear"]


@dataclass(frozen=True)
class GroundCalibration:
    """How one zone's pixels map onto the ground: x across the lane, y along it, in metres.

    Either ``width_m`` and ``length_m`` with ``image_px`` the four corners of a rectangle on the ground, in order
    around it, the first edge across the lane (corner 1 → 2 spans the width, 2 → 3 the length); or ``ground_m``,
    the ground coordinates of each of four or more ``image_px`` reference points. Invalid input raises ValueError.
    """

    image_px: tuple[Point, ...]
    ground_m: tuple[Point, ...] | None = None
    width_m: float | None = None
    length_m: float | None = None
    min_clear_width_m: float = GB50016_MIN_CLEAR_WIDTH_M
    homography: np.ndarray = field(init=False, repr=False, compare=False)  # image px → ground m

    def __post_init__(self) -> None:
        rectangle = self.width_m is not None or self.length_m is not None
        if rectangle == (self.ground_m is not None):
            raise ValueError("calibrate with either width_m and length_m (rectangle corners) or ground_m (points)")
        _positive(self.min_clear_width_m, "min_clear_width_m")
        image = _points(self.image_px, "corners" if rectangle else "points")
        if rectangle:
            width, length = _positive(self.width_m, "width_m"), _positive(self.length_m, "length_m")
            if len(image) != 4:
                raise ValueError(f"corners: a rectangle has 4 corners, got {len(image)}")
            _require_general_position(image, "corner")
            _require_convex_order(image)
            ground = _rectangle(width, length)
        else:
            ground = _points(self.ground_m, "ground_m")
            if len(image) < 4:
                raise ValueError(f"points: a homography needs at least 4 reference points, got {len(image)}")
            if len(ground) != len(image):
                raise ValueError(f"ground_m has {len(ground)} points for {len(image)} image points")
            if len(image) == 4:
                _require_general_position(image, "point")
                _require_general_position(ground, "ground point")
        homography = _fit_homography(image, ground)
        if not rectangle:
            _require_fit(homography, image, ground)
        object.__setattr__(self, "image_px", _as_tuple(image))
        object.__setattr__(self, "ground_m", None if rectangle else _as_tuple(ground))
        object.__setattr__(self, "width_m", float(self.width_m) if rectangle else None)
        object.__setattr__(self, "length_m", float(self.length_m) if rectangle else None)
        object.__setattr__(self, "min_clear_width_m", float(self.min_clear_width_m))
        object.__setattr__(self, "homography", homography)

    @classmethod
    def from_json(cls, raw: object) -> GroundCalibration:
        """The zone file's ``ground`` object: corners with width_m and length_m, or points with ground_m."""
        forms = "either corners, width_m and length_m, or points and ground_m"
        if not isinstance(raw, dict):
            raise ValueError(f"ground must be an object with {forms}")
        keys = set(raw)
        unknown = keys - {"corners", "width_m", "length_m", "points", "ground_m", "min_clear_width_m"}
        if unknown:
            raise ValueError(f"ground: unknown keys {[str(k)[:40] for k in sorted(unknown, key=str)[:5]]}")
        minimum = raw.get("min_clear_width_m", GB50016_MIN_CLEAR_WIDTH_M)
        keys.discard("min_clear_width_m")
        if keys == {"corners", "width_m", "length_m"}:
            return cls(raw["corners"], width_m=raw["width_m"], length_m=raw["length_m"], min_clear_width_m=minimum)
        if keys == {"points", "ground_m"}:
            return cls(raw["points"], ground_m=raw["ground_m"], min_clear_width_m=minimum)
        raise ValueError(f"ground needs {forms}; got {sorted(keys)}")

    def to_json(self) -> dict:
        points = [list(p) for p in self.image_px]
        if self.ground_m is None:
            shape = {"corners": points, "width_m": self.width_m, "length_m": self.length_m}
        else:
            shape = {"points": points, "ground_m": [list(p) for p in self.ground_m]}
        return {**shape, "min_clear_width_m": self.min_clear_width_m}

    def scaled(self, sx: float, sy: float) -> GroundCalibration:
        """The same calibration for frames resized by (sx, sy): zones are scaled so (relative units, other streams)."""
        return replace(self, image_px=tuple((x * sx, y * sy) for x, y in self.image_px))

    def lane(self, zone_polygon_px: Polygon) -> Lane:
        """The zone on the ground; ValueError when part of it lies at or beyond this calibration's horizon."""
        if not isinstance(zone_polygon_px, Polygon) or not zone_polygon_px.is_valid or zone_polygon_px.area <= 0:
            raise ValueError("zone polygon must be a valid polygon with an area")
        corners = np.asarray(zone_polygon_px.exterior.coords)[:-1]
        reference = _rectangle(self.width_m, self.length_m) if self.ground_m is None else np.array(self.ground_m)
        reach = np.linalg.norm(_apply(self.homography, corners) - reference.mean(axis=0), axis=1)
        for (x, y), depth, distance in zip(corners, _denominators(self.homography, corners), reach):
            if depth <= 0:
                raise ValueError(f"zone point ({x:g}, {y:g}) lies beyond the horizon of this calibration")
            if not distance <= MAX_DISTANCE_M:
                raise ValueError(
                    f"zone point ({x:g}, {y:g}) maps {distance:.3g} m from the calibration: it is at the horizon, "
                    "where a pixel spans kilometres; keep zones on the visible ground"
                )
        ground = Polygon(_apply(self.homography, corners))
        direction = (0.0, 1.0) if self.ground_m is None else _principal_axis(ground)
        across = (direction[1], -direction[0])
        start = min(np.asarray(ground.exterior.coords) @ direction)
        to_lane = np.array([[across[0], across[1], 0.0], [direction[0], direction[1], -start], [0.0, 0.0, 1.0]])
        image_to_lane = to_lane @ self.homography
        return Lane(zone_polygon_px, ground, direction, Polygon(_apply(image_to_lane, corners)), image_to_lane)


@dataclass(frozen=True, eq=False)
class Lane:
    """A calibrated zone on the ground.

    ``ground`` is the zone in the calibration's ground coordinates; ``direction`` the unit vector along the lane
    there (a rectangle calibration's length axis, else the zone's principal axis, pointing towards larger ground
    y). ``polygon`` is the zone in lane coordinates: u across, v along, v = 0 at the zone's start.
    """

    zone_px: Polygon
    ground: Polygon
    direction: tuple[float, float]
    polygon: Polygon
    image_to_lane: np.ndarray = field(repr=False)

    def map(self, outline_px: BaseGeometry) -> BaseGeometry:
        """The part of an image outline inside the zone, in lane coordinates.

        Clipping in the image first keeps every mapped point in front of the camera; a homography maps straight
        edges to straight edges there, so clipping then mapping equals mapping then clipping.
        """
        inside = shapely.intersection(shapely.make_valid(outline_px), self.zone_px)
        return shapely.transform(inside, lambda xy: _apply(self.image_to_lane, xy))


@dataclass(frozen=True)
class ClearWidth:
    """The narrowest clear width a zone's occupants leave, in metres.

    ``min_clear_m``: the longest continuous free interval across the lane, at the cross-section where it is
    shortest (a fire engine needs one gap, not the sum of gaps). ``at_m``: where along the lane that narrowest
    stretch begins, from the zone's start; None when nothing is in the lane. ``lane_width_m``: the lane's own width
    there; with nothing in the lane, its mean width (area ÷ length), which is then also ``min_clear_m``.
    ``severity``: "blocked" below the zone's minimum (exactly the minimum is enough), "narrowed" when something is
    in the lane but the minimum is left, "clear" when nothing is in the lane. Widths are rounded to millimetres
    before the comparison, so a lane computed at 3.9999999 m left of 4.0 m is not blocked by float noise.
    """

    min_clear_m: float
    at_m: float | None
    lane_width_m: float
    severity: Severity


def clear_width(
    calibration: GroundCalibration, zone_polygon_px: Polygon, obstacles_px: list[BaseGeometry]
) -> ClearWidth:
    """Map obstacles (footprints, mask outlines; image px) onto the lane and find its narrowest clear width.

    Only cross-sections an obstacle reaches are measured: elsewhere the width is the zone's own, which the operator
    drew (a slanted zone end is not an obstruction). The sweep is exact: between consecutive vertex positions along
    the lane every free interval's length is linear, so the narrowest point is at a vertex or where two intervals
    are equally long.
    """
    lane = calibration.lane(zone_polygon_px)
    blocked = shapely.union_all([lane.map(outline) for outline in obstacles_px])
    free = shapely.difference(lane.polygon, blocked)
    narrowest = _narrowest(_edges(lane.polygon), _edges(free), _edges(blocked))
    if narrowest is None:
        min_v, max_v = lane.polygon.bounds[1], lane.polygon.bounds[3]
        mean_width = round(float(lane.polygon.area / (max_v - min_v)), WIDTH_DECIMALS)
        return ClearWidth(mean_width, None, mean_width, "clear")
    clear, at, lane_width = (round(float(value), WIDTH_DECIMALS) for value in narrowest)
    return ClearWidth(clear, at, lane_width, "blocked" if clear < calibration.min_clear_width_m else "narrowed")


def footprint_polygon(
    box: tuple[float, float, float, float],
    band: float = FOOTPRINT_BAND,
    *,
    lane: Lane | None = None,
    depth_m: float | None = None,
) -> Polygon:
    """Where a detected object stands, as an image polygon (px).

    By default the bottom band of its box, exactly the footprint occupancy uses (zones.geometry), so a zone's
    occupants and its clear width agree. But a fixed band is metres deep on the ground far from the camera and a
    fraction of a car close to it. Given the lane and ``depth_m``, how far the object reaches along the lane (a car
    parked along it: its length), the box's bottom edge is the near side and the object extends ``depth_m`` along
    the lane away from the camera, cut at the box's top: a parked vehicle's outline, whatever its distance.
    """
    if (lane is None) != (depth_m is None):
        raise ValueError("footprint_polygon needs lane and depth_m together, or neither")
    if lane is None:
        return footprints(np.asarray(box, dtype=np.float64), band)[0]
    x1, y1, x2, y2 = (float(v) for v in box)
    depth = _positive(depth_m, "depth_m")
    near = np.array([[x1, y2], [x2, y2], [(x1 + x2) / 2, y2 - 1e-3]])  # a thousandth of a pixel up: farther away
    if (_denominators(lane.image_to_lane, near) <= 0).any():
        raise ValueError(f"box bottom edge (y={y2:g}) lies at or beyond the horizon of this calibration")
    left, right, farther = _apply(lane.image_to_lane, near)
    behind = np.array([0.0, depth * np.sign(farther[1] - (left[1] + right[1]) / 2)])
    far = _apply(np.linalg.inv(lane.image_to_lane), np.array([right, left]) + behind)
    return shapely.intersection(Polygon([(x1, y2), (x2, y2), *far]), shapely.box(x1, y1, x2, y2))


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of metres, got {value!r}")
    return float(value)


def _points(value: object, name: str) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except ValueError:
        raw = np.asarray([])
    if raw.dtype.kind not in "iuf" or raw.ndim != 2 or raw.shape[1] != 2:
        raise ValueError(f"{name} must be a list of [x, y] number pairs")
    array = raw.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: coordinates must be finite numbers")
    return array


def _rectangle(width: float, length: float) -> np.ndarray:
    """The ground coordinates of a rectangle calibration's corners, in their order."""
    return np.array([[0.0, 0.0], [width, 0.0], [width, length], [0.0, length]])


def _as_tuple(points: np.ndarray) -> tuple[Point, ...]:
    return tuple((float(x), float(y)) for x, y in points)


def _require_general_position(points: np.ndarray, label: str) -> None:
    """Four points fix a homography only if no three of them lie on one line (or nearly: then it is ill-conditioned)."""
    for skip in range(4):
        a, b, c = points[[i for i in range(4) if i != skip]]
        spread = max(np.linalg.norm(b - a), np.linalg.norm(c - a), np.linalg.norm(c - b))
        twice_area = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
        if twice_area <= COLLINEAR_TOLERANCE * spread**2:
            numbers = ", ".join(str(i + 1) for i in range(4) if i != skip)
            raise ValueError(f"{label}s {numbers} lie on one line: they cannot fix the perspective")


def _require_convex_order(corners: np.ndarray) -> None:
    """A rectangle on the ground, seen from in front of it, is a convex quadrilateral in the image."""
    edges = np.roll(corners, -1, axis=0) - corners
    turns = np.sign(edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0])
    if abs(turns.sum()) == 4:
        return
    if turns.sum() == 0:
        raise ValueError("corners are not in order around the rectangle: their outline crosses itself (a bow tie)")
    raise ValueError("corners outline a concave shape: a rectangle on the ground always looks convex; one is misplaced")


def _fit_homography(image: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """The image→ground homography (exact for four points, least squares beyond), scaled so w > 0 in front.

    Direct linear transform on normalised points (Hartley), the method behind cv2.findHomography, done here because
    its singular values also say how firmly the points fix the homography: the eighth against the first is near
    zero when a family of homographies fits (four points on one line, two all but coincident).
    """
    to_image, to_ground = _normaliser(image), _normaliser(ground)
    rows = []
    for (x, y), (u, v) in zip(_apply(to_image, image), _apply(to_ground, ground)):
        rows += [[-x, -y, -1, 0, 0, 0, u * x, u * y, u], [0, 0, 0, -x, -y, -1, v * x, v * y, v]]
    _, singular, basis = np.linalg.svd(np.array(rows))
    if singular[7] < MIN_DETERMINATION * singular[0]:
        raise ValueError(
            "the points barely fix the perspective (ill-conditioned homography): "
            "spread four or more over the lane, no three on one line"
        )
    homography = np.linalg.inv(to_ground) @ basis[-1].reshape(3, 3) @ to_image
    depth = _denominators(homography, image)
    if not ((depth > 0).all() or (depth < 0).all()):
        raise ValueError(
            "the points cannot all be in front of one camera: their image and ground orders disagree (swapped points?)"
        )
    return homography * np.sign(depth[0])


def _normaliser(points: np.ndarray) -> np.ndarray:
    """Centre the points and scale them to a mean distance of √2, so pixels and metres weigh alike."""
    centre = points.mean(axis=0)
    scale = math.sqrt(2) / np.linalg.norm(points - centre, axis=1).mean()
    return np.array([[scale, 0.0, -scale * centre[0]], [0.0, scale, -scale * centre[1]], [0.0, 0.0, 1.0]])


def _require_fit(homography: np.ndarray, image: np.ndarray, ground: np.ndarray) -> None:
    worst = float(np.linalg.norm(_apply(homography, image) - ground, axis=1).max())
    if worst > MAX_RESIDUAL_M:
        raise ValueError(
            f"the reference points disagree: the best perspective misses one by {worst:.2f} m "
            "(a typo in a distance, or a point not on the ground)"
        )


def _denominators(homography: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The projective denominator w of each point: its sign tells in front of the camera from behind it."""
    return xy @ homography[2, :2] + homography[2, 2]


def _apply(homography: np.ndarray, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return (xy @ homography[:2, :2].T + homography[:2, 2]) / _denominators(homography, xy)[:, None]


def _principal_axis(polygon: Polygon) -> tuple[float, float]:
    """The direction of the polygon's largest second moment of area, towards larger y (ground y when not elongated)."""
    xy = np.asarray(polygon.exterior.coords) - np.asarray(polygon.centroid.coords[0])
    x0, y0, x1, y1 = xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]
    cross = x0 * y1 - x1 * y0
    sxx = np.sum(cross * (x0 * x0 + x0 * x1 + x1 * x1)) * 2
    syy = np.sum(cross * (y0 * y0 + y0 * y1 + y1 * y1)) * 2
    sxy = np.sum(cross * (x0 * y1 + 2 * x0 * y0 + 2 * x1 * y1 + x1 * y0))
    moments, axes = np.linalg.eigh(np.array([[sxx, sxy], [sxy, syy]]) * np.sign(cross.sum()))
    if moments[1] < ELONGATION * moments[0]:
        return (0.0, 1.0)
    dx, dy = axes[:, 1]
    if dy < 0 or (dy == 0 and dx < 0):
        dx, dy = -dx, -dy
    return (float(dx), float(dy))


def _edges(geometry: BaseGeometry) -> np.ndarray:
    """Every ring edge of the geometry's areal parts, as an (E, 2, 2) array of ((u0, v0), (u1, v1))."""
    rings = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon) and not part.is_empty:
            rings += [np.asarray(part.exterior.coords)] + [np.asarray(r.coords) for r in part.interiors]
    if not rings:
        return np.zeros((0, 2, 2))
    return np.concatenate([np.stack([ring[:-1], ring[1:]], axis=1) for ring in rings])


def _intervals(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Lengths at v = lo and v = hi of the intervals across the lane inside the rings, shape (n, 2).

    No vertex lies strictly between lo and hi, so the edges crossing the slab stay the same and in the same order
    across it; taken left to right they pair up as interval ends (even-odd rule), each length linear in v.
    """
    v0, v1 = edges[:, 0, 1], edges[:, 1, 1]
    crossing = edges[(np.minimum(v0, v1) <= lo) & (np.maximum(v0, v1) >= hi)]
    (u0, v0), (u1, v1) = crossing[:, 0].T, crossing[:, 1].T
    slope = (u1 - u0) / (v1 - v0)
    at_lo, at_hi = u0 + (lo - v0) * slope, u0 + (hi - v0) * slope
    order = np.argsort(at_lo + at_hi)
    at_lo, at_hi = at_lo[order], at_hi[order]
    return np.stack([at_lo[1::2] - at_lo[0::2], at_hi[1::2] - at_hi[0::2]], axis=1)


def _longest(intervals: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The longest interval's length at fractions t of the slab (0 when there is none)."""
    if not len(intervals):
        return np.zeros_like(t)
    return np.max(intervals[:, :1] + (intervals[:, 1:] - intervals[:, :1]) * t, axis=0)


def _narrowest_in_slab(intervals: np.ndarray) -> tuple[float, float]:
    """(t, length): the first fraction of the slab where the longest interval is shortest.

    The longest of linear lengths is convex, its minimum at an end or where two lengths cross.
    """
    t = [0.0, 1.0]
    if len(intervals) > 1:
        start, change = intervals[:, 0], intervals[:, 1] - intervals[:, 0]
        i, j = np.triu_indices(len(intervals), 1)
        converging = change[i] != change[j]
        crossing = (start[j] - start[i])[converging] / (change[i] - change[j])[converging]
        t += list(crossing[(crossing > 0) & (crossing < 1)])
    t = np.sort(t)
    longest = _longest(intervals, t)
    first = int(np.argmax(longest <= longest.min() + 1e-9))
    return float(t[first]), float(longest[first])


def _narrowest(lane: np.ndarray, free: np.ndarray, blocked: np.ndarray) -> tuple[float, float, float] | None:
    """(clear width, position along the lane, lane width there) over the cross-sections obstacles reach."""
    if not len(blocked):
        return None
    levels = np.unique(np.concatenate([edges[:, :, 1].ravel() for edges in (lane, free, blocked) if len(edges)]))
    best = None
    for lo, hi in zip(levels[:-1], levels[1:]):
        if not len(_intervals(blocked, lo, hi)):
            continue
        t, clear = _narrowest_in_slab(_intervals(free, lo, hi))
        if best is None or clear < best[0] - 1e-9:
            best = (clear, lo + t * (hi - lo), float(_longest(_intervals(lane, lo, hi), np.array([t]))[0]))
    return best
