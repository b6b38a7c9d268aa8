"""Reading licence plates on the CPU, with the PP-OCR models that ship inside the ``rapidocr_onnxruntime`` wheel.

Nothing is downloaded: the text detector (DB) and recogniser (SVTR, CTC) are the package's bundled ONNX files,
run by onnxruntime. Two paths, because the detector rarely finds text on a small plate crop:
- an image shaped like a plate (a crop) goes to the recogniser directly, padded a little;
- anything larger (a vehicle, a scene) goes to the text detector; lines shaped like a plate (pieces of one line
  merged, since the two-tone green plates often come apart) are rectified, enlarged and recognised.
The recogniser's output is decoded over plate characters only, and every character keeps its candidates, so the
plate rules (detector.plate_rules) choose by position what each place can hold. Colour is read from the plate's
pixels and chosen among the colours its format allows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detector.plate_rules import PLATE_CHARACTERS, PlateText, resolve

log = logging.getLogger(__name__)

REC_HEIGHT = 48
CROP_ASPECT = (1.8, 7.0)  # width / height of an image taken as a plate crop
LINE_ASPECT = (1.2, 9.0)  # of a detected text line that may be (part of) a plate
MAX_LINES = 8  # detected lines recognised per image, plate-coloured first: bounds the cost of busy scenes
TOP_CANDIDATES = 5


class PlateReaderError(RuntimeError):
    """The bundled models are missing or cannot be loaded."""


@dataclass(frozen=True)
class PlateReading:
    text: str
    confidence: float
    colour: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the image read
    char_confidences: tuple[float, ...]
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)  # the rectified plate

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 3), "colour": self.colour,
                "box": [round(float(v), 1) for v in self.box]}


def _models_dir() -> Path:
    try:
        import rapidocr_onnxruntime
    except ImportError as error:  # declared in pyproject; a broken install says so plainly
        raise PlateReaderError(f"rapidocr_onnxruntime is not installed ({error})") from None
    return Path(rapidocr_onnxruntime.__file__).parent / "models"


def colour_scores(plate: np.ndarray) -> dict[str, float]:
    """Share of the plate's pixels in each plate colour (background colours, HSV); the characters are a minority."""
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)
    hue, sat, val = (hsv[..., i].astype(np.int16) for i in range(3))
    saturated = (sat >= 70) & (val >= 60)
    return {
        "blue": float(np.mean(saturated & (hue >= 95) & (hue <= 130))),
        "yellow": float(np.mean(saturated & (hue >= 12) & (hue <= 34))),
        "green": float(np.mean((sat >= 35) & (val >= 80) & (hue >= 35) & (hue <= 90))),
        "white": float(np.mean((sat < 40) & (val >= 150))),
        "black": float(np.mean(val < 60)),
    }


class PlateReader:
    """``read(image)`` → every plate it can read in a plate crop, a vehicle or a scene (empty when none)."""

    def __init__(self, min_confidence: float = 0.5, threads: int = 1) -> None:
        import onnxruntime as ort

        models = _models_dir()
        rec_path, det_path = models / "ch_PP-OCRv4_rec_infer.onnx", models / "ch_PP-OCRv4_det_infer.onnx"
        for path in (rec_path, det_path):
            if not path.is_file():
                raise PlateReaderError(f"plate model missing: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._rec = ort.InferenceSession(str(rec_path), options, providers=["CPUExecutionProvider"])
        alphabet = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._chars = np.array(["", *alphabet, " "], dtype=object)  # CTC blank first, space last
        self._plate_ids = np.array([0] + [i for i, c in enumerate(self._chars) if c and c in PLATE_CHARACTERS])
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

        self._det = TextDetector({
            "model_path": str(det_path), "limit_side_len": 736, "limit_type": "min", "mean": [0.5] * 3,
            "std": [0.5] * 3, "thresh": 0.3, "box_thresh": 0.5, "max_candidates": 1000, "unclip_ratio": 1.6,
            "use_dilation": True, "score_mode": "fast", "intra_op_num_threads": threads, "inter_op_num_threads": 1,
        })
        self.min_confidence = min_confidence

    # --- one plate image → candidates per character ---

    def candidates(self, plate: np.ndarray) -> list[list[tuple[str, float]]]:
        """The characters the recogniser sees, left to right, each with its likeliest plate characters."""
        height, width = plate.shape[:2]
        resized = cv2.resize(plate, (max(16, round(width * REC_HEIGHT / height)), REC_HEIGHT),
                             interpolation=cv2.INTER_CUBIC)
        blob = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        probs = self._rec.run(None, {self._rec.get_inputs()[0].name: blob})[0][0][:, self._plate_ids]
        best = probs.argmax(axis=1)
        positions: list[list[tuple[str, float]]] = []
        start = None
        for t in range(len(best) + 1):  # CTC: a run of one non-blank label is one character
            label = best[t] if t < len(best) else 0
            if start is not None and (label != best[start]):
                segment = probs[start:t]
                peak = segment[:, 1:].max(axis=1).argmax()
                frame = segment[peak, 1:]
                order = np.argsort(frame)[::-1][:TOP_CANDIDATES]
                positions.append([(str(self._chars[self._plate_ids[i + 1]]), float(frame[i])) for i in order])
                start = None
            if label != 0 and start is None:
                start = t
        return positions

    def read_plate(self, plate: np.ndarray) -> PlateText | None:
        return resolve(self.candidates(plate))

    # --- whole images ---

    def read(self, image: np.ndarray) -> list[PlateReading]:
        if image is None or image.ndim != 3 or min(image.shape[:2]) < 8:
            raise ValueError("a plate reader reads a BGR image of at least 8x8 pixels")
        height, width = image.shape[:2]
        readings: list[PlateReading] = []
        if CROP_ASPECT[0] <= width / height <= CROP_ASPECT[1] and height <= 160:
            pad_y, pad_x = max(2, height // 10), max(4, width // 20)
            padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
            reading = self._reading(padded, (0.0, 0.0, float(width), float(height)))
            if reading is not None:
                readings.append(reading)
        if not readings and max(height, width) >= 96:
            readings = self._read_scene(image)
        return [r for r in readings if r.confidence >= self.min_confidence]

    def _reading(self, plate: np.ndarray, box: tuple[float, float, float, float]) -> PlateReading | None:
        text = self.read_plate(plate)
        if text is None:
            return None
        scores = colour_scores(plate)
        colour = max(text.format.colours, key=lambda c: scores[c])
        return PlateReading(text.text, text.confidence, colour, box, text.char_confidences, plate)

    def _read_scene(self, image: np.ndarray) -> list[PlateReading]:
        boxes, _ = self._det(image)
        quads = [np.asarray(b, dtype=np.float32) for b in (boxes if boxes is not None else [])]
        regions = [r for r in [_region(q) for q in quads] + _merged_lines(quads) if r is not None]
        regions.sort(key=lambda r: -max(colour_scores(_warp(image, r, 1.0, 1.0)).values()))
        readings: list[PlateReading] = []
        for rect in regions[:MAX_LINES]:
            plate = _warp(image, rect, 1.12, 1.35)
            points = cv2.boxPoints(rect)
            box = (float(points[:, 0].min()), float(points[:, 1].min()),
                   float(points[:, 0].max()), float(points[:, 1].max()))
            reading = self._reading(plate, box)
            if reading is not None:
                readings.append(reading)
        return _distinct(readings)


Rect = tuple[tuple[float, float], tuple[float, float], float]  # cv2.minAreaRect


def _region(quad: np.ndarray) -> Rect | None:
    """A detected line as a rotated rectangle, width along the text; None when no plate has its shape."""
    (cx, cy), (w, h), angle = cv2.minAreaRect(quad)
    if w < h:
        w, h, angle = h, w, angle - 90
    if h < 6 or not LINE_ASPECT[0] <= w / h <= LINE_ASPECT[1] or abs(angle) > 45:
        return None
    return (cx, cy), (w, h), angle


def _merged_lines(quads: list[np.ndarray]) -> list[Rect]:
    """Neighbouring pieces of one line joined (a plate the detector cut in two)."""
    merged = []
    for i, a in enumerate(quads):
        for b in quads[i + 1:]:
            (ax1, ay1), (ax2, ay2) = a.min(axis=0), a.max(axis=0)
            (bx1, by1), (bx2, by2) = b.min(axis=0), b.max(axis=0)
            height = max(ay2 - ay1, by2 - by1)
            overlap_y = min(ay2, by2) - max(ay1, by1)
            gap_x = max(ax1, bx1) - min(ax2, bx2)
            if overlap_y >= 0.5 * min(ay2 - ay1, by2 - by1) and gap_x <= 0.8 * height:
                region = _region(np.vstack([a, b]))
                if region is not None:
                    merged.append(region)
    return merged


def _warp(image: np.ndarray, rect: Rect, grow_w: float, grow_h: float) -> np.ndarray:
    """The rectangle, grown a little (detected lines hug the characters; a plate's edge ones need room), upright."""
    (cx, cy), (w, h), angle = rect
    w, h = max(8.0, w * grow_w), max(8.0, h * grow_h)
    points = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.float32)
    sums, diffs = points.sum(axis=1), np.diff(points, axis=1).ravel()
    ordered = np.float32([points[sums.argmin()], points[diffs.argmin()], points[sums.argmax()], points[diffs.argmax()]])
    target = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(ordered, target)
    return cv2.warpPerspective(image, matrix, (round(w), round(h)), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


def _distinct(readings: list[PlateReading]) -> list[PlateReading]:
    """One reading per plate: overlapping regions (a line and its merged neighbour) keep their surest reading."""
    kept: list[PlateReading] = []
    for reading in sorted(readings, key=lambda r: -r.confidence):
        if all(r.text != reading.text and _iou(r.box, reading.box) < 0.3 for r in kept):
            kept.append(reading)
    return kept


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
