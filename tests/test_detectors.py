"""Backends, class mapping and model resolution on real images that installed packages ship."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pytest

from detector.backends import DetectorError, SsdDetector, YoloDetector
from detector.classes import ClassMap
from detector.resolve import load_detector, model_candidates

BUS = Path(__import__("ultralytics").__file__).parent / "assets" / "bus.jpg"


def test_class_map_categories_and_unknown_classes_reported(caplog):
    classes = ClassMap()
    assert classes.category("truck") == "vehicle"
    assert classes.category("dining table") == "obstacle"
    assert classes.category("person") == "ignored"
    with caplog.at_level(logging.WARNING):
        assert classes.check_model_classes(["car", "Fall Detected", "forklift"]) == ["Fall Detected", "forklift"]
        assert classes.category("forklift") == "ignored"
    assert "Fall Detected" in caplog.text
    with pytest.raises(ValueError, match="more than one category"):
        ClassMap(vehicles=frozenset({"car"}), obstacles=frozenset({"car"}))


def test_ssd_finds_the_bus_and_ignores_people(ssd):
    detections = ssd.detect(cv2.imread(str(BUS)))
    assert "bus" in set(detections.class_name)
    bus = detections[detections.class_name == "bus"]
    assert bus.category[0] == "vehicle" and bus.confidence.max() > 0.5
    people = detections[detections.class_name == "person"]
    assert len(people) >= 2 and set(people.category) == {"ignored"}
    x1, y1, x2, y2 = bus.xyxy[0]
    assert x2 - x1 > 500 and y2 - y1 > 300  # the bus fills most of the 810x1080 photo


def test_yolo_finds_the_bus(yolo):
    detections = yolo.detect(cv2.imread(str(BUS)), imgsz=640)
    assert "bus" in set(detections.class_name)
    assert (detections.class_name == "person").sum() >= 3


def test_models_folder_prefers_openvino_then_onnx_then_pt(tmp_path):
    (tmp_path / "b.pt").write_bytes(b"x")
    (tmp_path / "a.onnx").write_bytes(b"x")
    ov = tmp_path / "c_openvino_model"
    ov.mkdir()
    (ov / "c.xml").write_text("<net/>")
    assert [p.name for p in model_candidates(tmp_path)] == ["c_openvino_model", "a.onnx", "b.pt"]


def test_offline_with_no_weights_falls_back_to_ssd_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FIRELANE_OFFLINE", "1")
    with caplog.at_level(logging.WARNING):
        detector = load_detector(None, models_dirs=[tmp_path / "empty"])
    assert isinstance(detector, SsdDetector)
    assert "offline SSD" in caplog.text


def test_explicit_model_that_does_not_exist_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FIRELANE_OFFLINE", "1")
    with pytest.raises(DetectorError, match="not found"):
        load_detector("yolo11n.pt", models_dirs=[tmp_path])
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load"):
        YoloDetector(broken)


def test_ssd_by_name(tmp_path):
    assert load_detector("ssd-coco", models_dirs=[tmp_path]).name.startswith("ssd-coco")
