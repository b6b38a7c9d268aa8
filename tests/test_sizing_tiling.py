"""Inference sized to the camera, and zone tiles that find small objects: layout, merge, and a real model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from detector.detections import Detections
from detector.sizing import inference_size
from detector.tiling import MIN_GAIN, TiledDetector, ZoneTiles

BUS = Path(__import__("ultralytics").__file__).parent / "assets" / "bus.jpg"


def lane(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(x0, y0, x1, y1)


# --- inference size -----------------------------------------------------------------------------------------------


def test_inference_size_never_exceeds_the_native_frame():
    assert inference_size((720, 576), []) == 736  # the reported platform camera: not 1280
    assert inference_size((320, 240), []) == 320
    assert inference_size((1280, 720), []) == 1280
    assert inference_size((1920, 1080), []) == 1280  # at most max_imgsz
    assert inference_size((1920, 1080), [], max_imgsz=960) == 960
    assert inference_size((320, 240), [lane(0, 100, 320, 240)]) == 320  # the 640 floor never enlarges either


def test_inference_size_follows_what_the_zones_hold():
    far_lane = lane(800, 300, 1400, 330)  # 30 px wide: objects of 8 px, needs every pixel
    near_lane = lane(0, 500, 1920, 1080)  # 580 px wide: a quarter is 145 px even at a third of the size
    assert inference_size((1920, 1080), [far_lane]) == 1280
    assert inference_size((1920, 1080), [near_lane]) == 640
    assert inference_size((1920, 1080), [near_lane, far_lane]) == 1280  # the narrowest zone decides
    middle = inference_size((1920, 1080), [lane(0, 700, 1920, 900)])  # 200 px wide: a quarter must span 32 px
    assert 640 < middle < 1280 and middle % 32 == 0 and 50 * middle / 1920 >= 32


# --- tile layout -----------------------------------------------------------------------------------------------------


def covered(layout: ZoneTiles, zone: Polygon) -> bool:
    return shapely.union_all([box(*t.bounds) for t in layout.tiles]).contains(zone)


def test_tiles_cover_every_zone_with_small_objects_and_enlarge_them():
    zones = [lane(100, 200, 400, 230), lane(1400, 150, 1700, 170)]  # two far lanes, apart
    layout = ZoneTiles.plan((1920, 1080), zones, full_imgsz=1280)
    assert 2 <= len(layout.tiles) <= 4
    assert all(covered(layout, z) for z in zones)
    assert all(t.scale >= MIN_GAIN * 1280 / 1920 for t in layout.tiles)
    assert all(t.y1 <= 400 for t in layout.tiles)  # around the lanes, not the whole frame


def test_neighbouring_tiles_overlap_by_at_least_the_zone_width():
    long_lane = lane(0, 300, 1920, 340)  # 40 px wide, across the frame: several tiles in a row
    layout = ZoneTiles.plan((1920, 1080), [long_lane], full_imgsz=1280, max_tiles=8)
    row = sorted(layout.tiles, key=lambda t: t.x0)
    assert len(row) >= 3 and covered(layout, long_lane)
    assert all(a.x1 - b.x0 >= 40 for a, b in zip(row, row[1:]))
    assert row[0].inner == (False, True, True, True) and row[-1].inner == (True, True, False, True)


def test_tiles_stay_within_their_budget_and_only_where_needed():
    bays = [lane(x, y, x + 60, y + 30) for x in range(0, 1280, 70) for y in range(0, 720, 40)]  # a whole lot of bays
    for budget in (1, 2, 4):
        layout = ZoneTiles.plan((1280, 720), bays, full_imgsz=1280, max_tiles=budget)
        assert 1 <= len(layout.tiles) <= budget
    assert ZoneTiles.plan((1280, 720), bays, full_imgsz=1280, tiles="off").tiles == ()
    near = [lane(0, 500, 600, 700)]  # 200 px wide: its smallest objects span 50 px
    assert ZoneTiles.plan((1280, 720), near, full_imgsz=1280).tiles == ()  # auto: large enough for the full frame
    assert 1 <= len(ZoneTiles.plan((1280, 720), near, full_imgsz=1280, tiles="on").tiles) <= 4
    with pytest.raises(ValueError):
        ZoneTiles.plan((1280, 720), near, full_imgsz=1280, tiles="sometimes")


# --- merge, with a detector that finds painted rectangles -----------------------------------------------------------


class BlobDetector:
    """Finds every filled rectangle painted on a black frame, even cut by the image edge, if it spans at least
    ``min_px`` in the network input (as a real detector misses what is too small at its input size)."""

    name = "blobs"
    class_names = ["car"]

    def __init__(self, min_px: float):
        self.min_px = min_px
        self.calls: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        height, width = image.shape[:2]
        self.calls.append((width, height))
        scale = (imgsz or max(height, width)) / max(height, width)
        count, _, stats, _ = cv2.connectedComponentsWithStats((image.max(axis=2) > 0).astype(np.uint8))
        boxes = [(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:count] if min(w, h) * scale >= self.min_px]
        return Detections(np.array(boxes, dtype=np.float32).reshape(-1, 4), np.full(len(boxes), 0.9),
                          ["car"] * len(boxes), ["vehicle"] * len(boxes))


FRAME = (1920, 1080)
FAR_LANE = lane(0, 300, 1920, 340)


def painted(*rects: tuple[int, int, int, int]) -> np.ndarray:
    image = np.zeros((FRAME[1], FRAME[0], 3), dtype=np.uint8)
    for x0, y0, x1, y1 in rects:
        image[y0:y1, x0:x1] = 255
    return image


def boundary(detector: TiledDetector) -> tuple[int, int]:
    """The strip two neighbouring tiles share: (left edge of the right tile, right edge of the left tile)."""
    row = sorted(detector.layout(FRAME)[1].tiles, key=lambda t: t.x0)
    return row[1].x0, row[0].x1


def test_an_object_split_across_two_tiles_becomes_one_box():
    blobs = BlobDetector(min_px=12)  # the full frame (scale 2/3) misses 16 px, the tiles see it
    tiled = TiledDetector(blobs, FRAME, [FAR_LANE], max_tiles=8)
    start, end = boundary(tiled)
    bus = (start - 30, 310, end + 30, 326)  # longer than the overlap: whole in neither tile
    found = tiled.detect(painted(bus))
    assert len(found) == 1
    assert np.allclose(found.xyxy[0], bus, atol=2)
    assert len(blobs.calls) == 1 + len(tiled.layout(FRAME)[1].tiles)


def test_neighbours_stay_two_whether_cut_or_whole():
    tiled = TiledDetector(BlobDetector(min_px=12), FRAME, [FAR_LANE], max_tiles=8)
    start, end = boundary(tiled)
    side_by_side = [(start + 2, 310, start + 20, 330), (start + 22, 310, start + 40, 330)]  # 2 px apart, both whole
    assert len(tiled.detect(painted(*side_by_side))) == 2
    one_above_other = [(start - 30, 302, end + 30, 318), (start - 30, 322, end + 30, 338)]  # both cut by both tiles
    found = tiled.detect(painted(*one_above_other))
    assert len(found) == 2
    assert np.allclose(sorted(found.xyxy.tolist()), sorted(one_above_other), atol=2)


def test_a_piece_cut_by_a_tile_edge_joins_the_whole_object():
    tiled = TiledDetector(BlobDetector(min_px=12), FRAME, [FAR_LANE], max_tiles=8)
    start, end = boundary(tiled)
    big = (start - 40, 266, end + 40, 296)  # big enough for the full frame, cut by both tiles
    small = (start + 3, 310, end - 3, 326)  # whole in both tiles: found twice, missed by the full frame
    found = tiled.detect(painted(big, small))
    assert len(found) == 2
    assert np.allclose(sorted(found.xyxy.tolist()), sorted([big, small]), atol=1)


def test_zones_drawn_on_another_size_are_scaled_with_the_frame():
    tiled = TiledDetector(BlobDetector(min_px=12), FRAME, [FAR_LANE], max_tiles=8)
    full, layout = tiled.layout((960, 540))
    assert full == 960
    assert all(t.x1 <= 960 and t.y1 <= 540 for t in layout.tiles) and min(t.y0 for t in layout.tiles) < 150


# --- the real model ---------------------------------------------------------------------------------------------------


@pytest.mark.model
def test_yolo_sizes_inference_to_the_frame_unless_told(yolo, monkeypatch):
    asked = []
    predict = yolo.model.predict
    monkeypatch.setattr(yolo.model, "predict", lambda image, **kw: asked.append(kw["imgsz"]) or predict(image, **kw))
    bus = cv2.imread(str(BUS))  # 810x1080: at 1280 YOLO11n loses the bus, at its own size it finds it
    assert "bus" in set(yolo.detect(bus).class_name)
    yolo.detect(cv2.resize(bus, (720, 576)))
    yolo.detect(bus, imgsz=1280)  # an explicit per-camera size is honoured, even above the frame's
    assert asked == [1088, 736, 1280]


@pytest.mark.model
def test_a_static_export_sees_a_small_frame_padded_not_enlarged(shared_data, monkeypatch):
    from detector.backends import YoloDetector

    onnx = YoloDetector(shared_data.parent / "models" / "yolov8n_int8.onnx")  # fixed 640x640 input
    assert onnx.fixed_input == (640, 640)
    inputs = []
    predict = onnx.model.predict
    monkeypatch.setattr(onnx.model, "predict", lambda image, **kw: inputs.append(image) or predict(image, **kw))
    frame = cv2.resize(cv2.imread(str(BUS)), (384, 512))
    found = onnx.detect(frame)
    assert inputs[0].shape == (640, 640, 3) and np.array_equal(inputs[0][:512, :384], frame)
    assert "bus" in set(found.class_name)
    assert (found.xyxy[:, [0, 2]] <= 384).all() and (found.xyxy[:, [1, 3]] <= 512).all()


@pytest.mark.model
def test_tiles_find_a_small_bus_and_its_passengers_that_the_full_frame_misses(yolo):
    small = cv2.resize(cv2.imread(str(BUS)), None, fx=0.08, fy=0.08, interpolation=cv2.INTER_AREA)  # 65x86
    frame = np.full((1080, 1920, 3), 128, dtype=np.uint8)
    x, y = 1200, 700
    frame[y:y + small.shape[0], x:x + small.shape[1]] = small
    kerb = lane(x - 20, y + 40, x + small.shape[1] + 20, y + small.shape[0] + 10)  # a far kerb the bus stops at
    untiled = yolo.detect(frame)
    assert not (untiled.category == "vehicle").any() and "person" not in set(untiled.class_name)
    tiled = TiledDetector(yolo, (1920, 1080), [kerb])
    assert len(tiled.layout((1920, 1080))[1].tiles) == 1
    found = tiled.detect(frame)
    vehicles = found[found.category == "vehicle"]
    assert len(vehicles) == 1 and vehicles.class_name[0] in {"bus", "truck"}  # one box, whichever class won
    x0, y0, x1, y1 = vehicles.xyxy[0]
    assert x - 3 <= x0 and x1 <= x + small.shape[1] + 3 and y - 3 <= y0 and y1 <= y + small.shape[0] + 3
    assert (found.class_name == "person").sum() >= 2
