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

from detector.backends import DetectorError
from detector.plate_rules import PLATE_CHARACTERS, PlateText, resolve
from detector.plate_vote import vote

log = logging.getLogger(__name__)

REC_HEIGHT = 48
CROP_ASPECT = (1.8, 7.0)  # width / height of an image taken as a plate crop
LINE_ASPECT = (1.2, 9.0)  # of a detected text line that may be (part of) a plate
MAX_LINES = 8  # detected lines recognised per image, plate-coloured first: bounds the cost of busy scenes
TOP_CANDIDATES = 5
# crops read per region (width, height grown by): detected lines hug the characters and often miss an edge one
LINE_VARIANTS = ((1.0, 1.0), (1.12, 1.35), (1.3, 1.6))
CROP_VARIANTS = ((1.0, 1.0), (1.1, 1.2))  # a crop is the plate already: as it is, and with a border


class PlateReaderError(DetectorError):
    """The bundled models are missing or cannot be loaded."""


@dataclass(frozen=True)
class PlateReading:
    plate: PlateText
    colour: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the image read
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)  # the rectified plate

    @property
    def text(self) -> str:
        return self.plate.text

    @property
    def confidence(self) -> float:
        return self.plate.confidence

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 3), "colour": self.colour,
                "box": [round(float(v), 1) for v in self.box]}


def _models_dir() -> Path:
    try:
        import rapidocr_onnxruntime
    except ImportError as error:  # declared in pyproject; a broken install says so plainly
        raise PlateReaderError(f"rapidocr_onnxruntime is not installed ({error})") from None
    return Path(rapidocr_onnxruntime.__file__).parent / "models"


HUE_BANDS = (("yellow", 10, 40), ("green", 40, 88), ("blue", 88, 131))  # OpenCV hue (0-180) of plate backgrounds
SATURATED_SHARE = 0.2  # below this share of coloured pixels the plate is white or black (or too washed out)


def plate_colour(plate: np.ndarray) -> tuple[str | None, float]:
    """The plate's background colour from its pixels, and the share of its pixels that are coloured.

    The median hue of the coloured pixels decides (the characters and a border of car body are a minority);
    with few coloured pixels the plate is white or black by its brightness, or None when that is unclear."""
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    coloured = hsv[(hsv[:, 1] >= 60) & (hsv[:, 2] >= 60)]
    share = len(coloured) / max(1, len(hsv))
    if share >= SATURATED_SHARE:
        hue = float(np.median(coloured[:, 0]))
        return next((name for name, low, high in HUE_BANDS if low <= hue < high), None), share
    brightness = float(np.median(hsv[:, 2]))
    return ("white" if brightness >= 150 else "black" if brightness < 70 else None), share


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
            whole = ((width / 2, height / 2), (float(width), float(height)), 0.0)
            reading = self._read_region(image, whole, CROP_VARIANTS)
            readings += [reading] if reading is not None else []
        if not readings and max(height, width) >= 96:
            readings = self._read_scene(image)
        return [r for r in readings if r.confidence >= self.min_confidence]

    def _read_region(self, image: np.ndarray, rect: Rect, variants) -> PlateReading | None:
        """One plate region read from a few crops (tight, grown) and their readings voted into one; the plate's
        background colour keeps out readings of a length that colour cannot have."""
        crops = [_warp(image, rect, grow_w, grow_h) for grow_w, grow_h in variants]
        read = [(t, crop) for t, crop in ((self.read_plate(crop), crop) for crop in crops) if t is not None]
        if not read:
            return None
        texts = [t for t, _ in read]
        background, _ = plate_colour(crops[0])
        # only a clearly coloured background rules out a length (a washed-out green plate looks white)
        plate = vote(texts, background if background in ("blue", "yellow", "green") else None, same_view=True)
        if plate is None:
            return None
        colour = background if background in plate.format.colours else plate.format.colours[0]
        points = cv2.boxPoints(rect)
        box = (max(0.0, float(points[:, 0].min())), max(0.0, float(points[:, 1].min())),
               min(float(image.shape[1]), float(points[:, 0].max())),
               min(float(image.shape[0]), float(points[:, 1].max())))
        best_crop = max(read, key=lambda pair: (pair[0].text == plate.text, pair[0].confidence))[1]
        return PlateReading(plate, colour, box, best_crop)

    def _read_scene(self, image: np.ndarray) -> list[PlateReading]:
        boxes, _ = self._det(image)
        quads = [np.asarray(b, dtype=np.float32) for b in (boxes if boxes is not None else [])]
        regions = [r for r in [_region(q) for q in quads] + _merged_lines(quads) if r is not None]
        regions.sort(key=lambda r: -_plate_likeness(image, r))
        readings = [self._read_region(image, rect, LINE_VARIANTS) for rect in regions[:MAX_LINES]]
        return _distinct([r for r in readings if r is not None])


Rect = tuple[tuple[float, float], tuple[float, float], float]  # cv2.minAreaRect


def _plate_likeness(image: np.ndarray, rect: Rect) -> float:
    """Coloured like a plate first, then the rest by size: which detected lines are worth recognising."""
    colour, share = plate_colour(_warp(image, rect, 1.0, 1.0))
    return (1.0 + share if colour in ("blue", "yellow", "green") else 0.0) + min(1.0, rect[1][0] / 1000)


def _region(quad: np.ndarray) -> Rect | None:
    """A detected line as a rotated rectangle, width along the text; None when no plate has its shape."""
    (cx, cy), (w, h), angle = cv2.minAreaRect(quad)
    if w < h:
        w, h, angle = h, w, angle - 90
    angle = (angle + 90) % 180 - 90  # the same rectangle, its long side within ±90° of horizontal
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
