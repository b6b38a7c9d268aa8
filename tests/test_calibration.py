"""Clear width on the ground, checked against a synthetic camera whose geometry is known exactly.

A pinhole camera 8 m up, 2 m beside a 6 m × 40 m fire lane and 8 m before it, looks down the lane at 35°. Ground
shapes in metres are projected into its pixels, handed to zones.calibration as a detector would see them, and the
widths it measures back on the ground are compared with the widths the shapes were built with.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon

from zones.calibration import GroundCalibration, clear_width, footprint_polygon
from zones.geometry import footprints

WIDTH, LENGTH = 6.0, 40.0
CM = 0.02  # "within a few cm": the sweep is exact, so only float noise and millimetre rounding remain


def projection(pitch_deg=35.0, yaw_deg=8.0, position=(-2.0, -8.0, 8.0), focal=1000.0, size=(1920, 1080)):
    """3×4 matrix of a camera at ``position`` (m) facing along the lane (+y), turned by yaw, tilted down by pitch."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), -math.sin(pitch)])
    right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    rotation = np.stack([right, np.cross(forward, right), forward])  # rows: image x, image y (down), depth
    intrinsics = np.array([[focal, 0.0, size[0] / 2], [0.0, focal, size[1] / 2], [0.0, 0.0, 1.0]])
    return intrinsics @ np.column_stack([rotation, -rotation @ np.array(position)])


CAMERA = projection()


def to_image(points_m) -> np.ndarray:
    """Pixels of 3D points (x, y, z) or ground points (x, y) in metres."""
    points = np.asarray(points_m, dtype=np.float64)
    if points.shape[1] == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    projected = np.column_stack([points, np.ones(len(points))]) @ CAMERA.T
    return projected[:, :2] / projected[:, 2:]


def on_ground(x0, y0, x1, y1) -> Polygon:
    """The image outline of a ground rectangle (metres, x across the lane, y along it)."""
    return Polygon(to_image([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))


def outline(polygon_m: Polygon) -> Polygon:
    return Polygon(to_image(np.asarray(polygon_m.exterior.coords)[:-1]))


LANE_CORNERS = to_image([(0, 0), (WIDTH, 0), (WIDTH, LENGTH), (0, LENGTH)])
ZONE = Polygon(LANE_CORNERS)
CALIBRATION = GroundCalibration(LANE_CORNERS.tolist(), width_m=WIDTH, length_m=LENGTH)
CALIBRATION_POINTS_M = [(0, 0), (3, 0), (6, 0), (6, 40), (3, 40), (0, 40)]  # corners and the ends' midpoints


def test_the_synthetic_lane_is_in_view():
    assert ((LANE_CORNERS >= 0) & (LANE_CORNERS <= [1920, 1080])).all()


def test_an_empty_lane_is_clear_at_its_full_width():
    result = clear_width(CALIBRATION, ZONE, [])
    assert (result.min_clear_m, result.at_m, result.lane_width_m, result.severity) == (6.0, None, 6.0, "clear")


@pytest.mark.parametrize("x0", [0.0, WIDTH - 1.8], ids=["near-side edge", "far-side edge"])
def test_a_car_against_one_edge_leaves_the_rest(x0):
    result = clear_width(CALIBRATION, ZONE, [on_ground(x0, 10, x0 + 1.8, 14.5)])
    assert result.min_clear_m == pytest.approx(WIDTH - 1.8, abs=CM)
    assert result.at_m == pytest.approx(10.0, abs=CM)
    assert (result.lane_width_m, result.severity) == (6.0, "narrowed")


def test_two_objects_side_by_side_leave_the_gap_between_them():
    car, bins = on_ground(0, 10, 1.8, 14.5), on_ground(4.5, 12, 6, 13)
    result = clear_width(CALIBRATION, ZONE, [car, bins])
    assert result.min_clear_m == pytest.approx(4.5 - 1.8, abs=CM)
    assert result.at_m == pytest.approx(12.0, abs=CM)
    assert result.severity == "blocked"


def test_staggered_objects_leave_the_larger_single_gap():
    car, bins = on_ground(0, 10, 1.8, 14.5), on_ground(4.5, 20, 6, 21)
    result = clear_width(CALIBRATION, ZONE, [car, bins])
    assert result.min_clear_m == pytest.approx(WIDTH - 1.8, abs=CM)
    assert result.severity == "narrowed"


def test_gaps_either_side_of_an_object_do_not_add_up():
    """A 1 m object mid-lane leaves 2.5 m each side: 5 m in total, but no fire engine fits through 2.5 m."""
    result = clear_width(CALIBRATION, ZONE, [on_ground(2.5, 10, 3.5, 11)])
    assert result.min_clear_m == pytest.approx(2.5, abs=CM)
    assert result.severity == "blocked"


def test_the_narrowest_point_between_vertices_is_found():
    """A bar slanting across the lane: the left gap grows as the right one shrinks, both 2.5 m at y = 12.

    At its vertices (y = 10 and 14) the longer gap is 4 m; a sweep through the vertices alone would miss this.
    """
    bar = Polygon([(1, 10), (2, 10), (5, 14), (4, 14)])
    result = clear_width(CALIBRATION, ZONE, [outline(bar)])
    assert result.min_clear_m == pytest.approx(2.5, abs=CM)
    assert result.at_m == pytest.approx(12.0, abs=CM)


def test_a_car_parked_at_an_angle_is_measured_where_it_reaches_furthest():
    car = affinity.rotate(Polygon([(0, 10), (1.8, 10), (1.8, 14.5), (0, 14.5)]), -30, origin=(0, 10))
    reach = max(x for x, _ in car.exterior.coords)
    result = clear_width(CALIBRATION, ZONE, [outline(car)])
    assert result.min_clear_m == pytest.approx(WIDTH - reach, abs=CM)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_exact_sweep_agrees_with_dense_cross_sections(seed):
    """Cars dropped at random angles: slicing the lane every 5 mm never finds a narrower point than the sweep."""
    rng = np.random.default_rng(seed)
    cars = [
        affinity.rotate(Polygon([(x, y), (x + 1.8, y), (x + 1.8, y + 4.5), (x, y + 4.5)]), rng.uniform(0, 180))
        for x, y in zip(rng.uniform(-1, 5, 4), rng.uniform(2, 34, 4))
    ]
    result = clear_width(CALIBRATION, ZONE, [outline(car) for car in cars])
    lane = Polygon([(0, 0), (WIDTH, 0), (WIDTH, LENGTH), (0, LENGTH)])
    free = lane.difference(shapely.union_all(cars))
    bottom, top = lane.intersection(shapely.union_all(cars)).bounds[1::2]
    sliced = min(
        max((part.length for part in shapely.get_parts(free.intersection(LineString([(-1, y), (7, y)])))), default=0)
        for y in np.arange(bottom + 0.0025, top, 0.005)
    )
    assert result.min_clear_m - 0.001 <= sliced <= result.min_clear_m + 0.05


def test_a_wall_to_wall_obstacle_leaves_nothing():
    result = clear_width(CALIBRATION, ZONE, [on_ground(-1, 20, 7, 21)])
    assert (result.min_clear_m, result.severity) == (0.0, "blocked")


def test_objects_outside_the_lane_do_not_count():
    beside = on_ground(WIDTH + 0.5, 10, WIDTH + 2.3, 14.5)
    assert clear_width(CALIBRATION, ZONE, [beside]) == clear_width(CALIBRATION, ZONE, [])


def test_only_the_part_of_an_object_inside_the_lane_counts():
    straddling = on_ground(-1.0, 10, 0.8, 14.5)
    assert clear_width(CALIBRATION, ZONE, [straddling]).min_clear_m == pytest.approx(WIDTH - 0.8, abs=CM)


@pytest.mark.parametrize(
    ("object_width", "minimum", "severity"),
    [(2.0, 4.0, "narrowed"), (2.001, 4.0, "blocked"), (2.001, 3.5, "narrowed"), (1.5, 4.5, "narrowed")],
)
def test_severity_against_the_minimum_clear_width(object_width, minimum, severity):
    """Exactly the minimum is enough (GB 50016: at least 4.0 m); a millimetre less is not."""
    calibration = GroundCalibration(LANE_CORNERS.tolist(), width_m=WIDTH, length_m=LENGTH, min_clear_width_m=minimum)
    result = clear_width(calibration, ZONE, [on_ground(0, 10, object_width, 14.5)])
    assert result.min_clear_m == round(WIDTH - object_width, 3)
    assert result.severity == severity


def test_reference_points_in_site_coordinates():
    """Ground coordinates from a site plan: the lane runs at 30° there, far from the plan's origin."""
    site = affinity.translate(affinity.rotate(Polygon(CALIBRATION_POINTS_M), 30, origin=(0, 0)), 250.0, 1200.0)
    calibration = GroundCalibration(to_image(CALIBRATION_POINTS_M).tolist(), ground_m=site.exterior.coords[:-1])
    lane = calibration.lane(ZONE)
    assert lane.direction == pytest.approx((-math.sin(math.radians(30)), math.cos(math.radians(30))))
    result = clear_width(calibration, ZONE, [on_ground(0, 10, 1.8, 14.5)])
    assert result.min_clear_m == pytest.approx(WIDTH - 1.8, abs=CM)
    assert result.at_m == pytest.approx(10.0, abs=CM)
    assert result.lane_width_m == pytest.approx(WIDTH, abs=CM)


def test_a_zone_without_a_long_axis_runs_along_ground_y():
    square = [(0, 0), (6, 0), (6, 6), (0, 6)]
    calibration = GroundCalibration(to_image(square).tolist(), ground_m=square)
    assert calibration.lane(Polygon(to_image(square))).direction == (0.0, 1.0)


def test_a_rescaled_calibration_measures_the_same():
    """Zones drawn on a 1920×1080 snapshot watching a 960×540 sub-stream: calibration and zone scale alike."""
    half = CALIBRATION.scaled(0.5, 0.5)
    zone = affinity.scale(ZONE, 0.5, 0.5, origin=(0, 0))
    car = affinity.scale(on_ground(0, 10, 1.8, 14.5), 0.5, 0.5, origin=(0, 0))
    assert clear_width(half, zone, [car]) == clear_width(CALIBRATION, ZONE, [on_ground(0, 10, 1.8, 14.5)])


@pytest.mark.parametrize(
    "calibration",
    [CALIBRATION, GroundCalibration(to_image(CALIBRATION_POINTS_M).tolist(), ground_m=CALIBRATION_POINTS_M)],
    ids=["rectangle", "points"],
)
def test_json_round_trip(calibration):
    raw = json.loads(json.dumps(calibration.to_json()))
    again = GroundCalibration.from_json(raw)
    assert again == calibration
    assert np.allclose(again.homography, calibration.homography)


def test_json_shapes_for_the_zone_file():
    assert set(CALIBRATION.to_json()) == {"corners", "width_m", "length_m", "min_clear_width_m"}
    points = {"points": to_image(CALIBRATION_POINTS_M).tolist(), "ground_m": CALIBRATION_POINTS_M}
    assert set(GroundCalibration.from_json(points).to_json()) == {"points", "ground_m", "min_clear_width_m"}
    assert GroundCalibration.from_json(points).min_clear_width_m == 4.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "ground must be an object"),
        ({"corners": LANE_CORNERS.tolist(), "width_m": 6}, "ground needs either corners, width_m and length_m"),
        ({"corners": LANE_CORNERS.tolist(), "width_m": 6, "length_m": 40, "colour": "red"}, "unknown keys ['colour']"),
        ({"corners": LANE_CORNERS.tolist(), "width_m": "6", "length_m": 40}, "width_m must be a positive number"),
        ({"corners": LANE_CORNERS.tolist(), "width_m": 6, "length_m": 40, "min_clear_width_m": 0}, "min_clear_width_m"),
        ({"corners": [["a", 1]] * 4, "width_m": 6, "length_m": 40}, "corners must be a list of [x, y] number pairs"),
        ({"corners": [[1, 2], [3]], "width_m": 6, "length_m": 40}, "corners must be a list of [x, y] number pairs"),
        ({"points": LANE_CORNERS.tolist(), "ground_m": [[0, 0], [6, 0]]}, "ground_m has 2 points for 4 image points"),
        ({"points": LANE_CORNERS[:3].tolist(), "ground_m": [[0, 0]] * 3}, "at least 4 reference points, got 3"),
    ],
)
def test_malformed_json_is_refused_with_the_fault_named(raw, message):
    with pytest.raises(ValueError) as error:
        GroundCalibration.from_json(raw)
    assert message in str(error.value)


def corners_with(index, point):
    corners = LANE_CORNERS.tolist()
    corners[index] = point
    return corners


@pytest.mark.parametrize(
    ("corners", "message"),
    [
        (corners_with(2, list((LANE_CORNERS[1] + LANE_CORNERS[0]) / 2)), "corners 1, 2, 3 lie on one line"),
        (LANE_CORNERS[[0, 2, 1, 3]].tolist(), "crosses itself (a bow tie)"),
        (corners_with(2, list(0.7 * (LANE_CORNERS[1] + LANE_CORNERS[3]) / 2 + 0.3 * LANE_CORNERS[0])), "concave"),
        (corners_with(3, [math.inf, 60.0]), "coordinates must be finite"),
        (corners_with(3, [math.nan, 60.0]), "coordinates must be finite"),
        (LANE_CORNERS[:3].tolist(), "a rectangle has 4 corners, got 3"),
    ],
    ids=["collinear", "bow tie", "concave", "infinite", "nan", "three corners"],
)
def test_degenerate_rectangles_are_refused(corners, message):
    with pytest.raises(ValueError) as error:
        GroundCalibration(corners, width_m=WIDTH, length_m=LENGTH)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("ground_m", "message"),
    [
        ([(0, 0), (0, 10), (0, 20), (0, 30), (6, 15)], "ill-conditioned"),  # four on one line fix no perspective
        ([(0, 0), (0, 20), (0, 40), (6, 20), (6, 20.001)], "ill-conditioned"),  # two points all but coincide
        ([(0, 0), (0, 10), (0, 20), (0, 30), (0, 40)], "ill-conditioned"),  # all on one line
        ([(0, 0), (0, 20), (0.05, 10), (6, 40)], "points 1, 2, 3 lie on one line"),
    ],
)
def test_reference_points_that_cannot_fix_the_perspective_are_refused(ground_m, message):
    with pytest.raises(ValueError) as error:
        GroundCalibration(to_image(ground_m).tolist(), ground_m=ground_m)
    assert message in str(error.value)


def test_reference_points_in_an_order_no_camera_sees_are_refused():
    swapped = [(6, 0), (0, 0), (6, 40), (0, 40)]  # the image points' ground coordinates, first two exchanged
    with pytest.raises(ValueError, match="cannot all be in front of one camera"):
        GroundCalibration(to_image([(0, 0), (6, 0), (6, 40), (0, 40)]).tolist(), ground_m=swapped)


def test_a_typo_in_a_reference_distance_is_refused():
    typo = [(0, 0), (3, 0), (6, 0), (6, 40), (3, 45), (0, 40)]  # 45 for 40
    with pytest.raises(ValueError, match="the reference points disagree"):
        GroundCalibration(to_image(CALIBRATION_POINTS_M).tolist(), ground_m=typo)


def test_zones_at_or_beyond_the_horizon_are_refused():
    """The camera's horizon is the image row y = 540 - 1000·tan 35° ≈ -160: above the frame."""
    above_horizon = Polygon([LANE_CORNERS[0], LANE_CORNERS[1], (1500, -400), (900, -400)])
    with pytest.raises(ValueError, match=r"zone point \(1500, -400\) lies beyond the horizon"):
        CALIBRATION.lane(above_horizon)
    two_km = Polygon(to_image([(0, 0), (WIDTH, 0), (WIDTH, 2000), (0, 2000)]))
    with pytest.raises(ValueError, match="m from the calibration: it is at the horizon"):
        clear_width(CALIBRATION, two_km, [])


def test_the_default_footprint_is_the_one_occupancy_uses():
    box = (900, 300, 1100, 480)
    assert footprint_polygon(box).equals(footprints(np.array([box]))[0])


def car_box(x0, y0, width=1.8, length=4.5, height=1.5):
    """The image box a detector would draw around a car standing on the ground rectangle (x0, y0, width, length)."""
    corners = [(x, y, z) for x in (x0, x0 + width) for y in (y0, y0 + length) for z in (0, height)]
    pixels = to_image(corners)
    return (*pixels.min(axis=0), *pixels.max(axis=0))


@pytest.mark.parametrize("y0", [5.0, 20.0])
def test_a_footprint_with_the_car_length_is_nearer_the_truth_than_the_band(y0):
    """Parked along the near-side edge, 4.2 m is left; the fixed band reaches 2-3 m down the lane and overstates
    the car's width; the calibrated outline reaches the car's far end and comes within a few centimetres."""
    lane = CALIBRATION.lane(ZONE)
    box = car_box(0.0, y0)
    band, calibrated = footprint_polygon(box), footprint_polygon(box, lane=lane, depth_m=4.5)
    assert lane.map(band).bounds[3] < y0 + 3.5
    assert lane.map(calibrated).bounds[3] == pytest.approx(y0 + 4.5, abs=CM)
    band_error = abs(clear_width(CALIBRATION, ZONE, [band]).min_clear_m - 4.2)
    calibrated_error = abs(clear_width(CALIBRATION, ZONE, [calibrated]).min_clear_m - 4.2)
    assert calibrated_error < 0.06 < band_error


def test_a_calibrated_footprint_needs_both_lane_and_depth():
    with pytest.raises(ValueError, match="lane and depth_m together"):
        footprint_polygon((900, 300, 1100, 480), depth_m=4.5)
