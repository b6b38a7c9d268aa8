"""Evidence overlays drawn with Pillow, because OpenCV's putText cannot draw the Chinese names users read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from service.fonts import load_font

RED = (235, 40, 40)
YELLOW = (255, 200, 0)
GREEN = (40, 200, 90)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
ZONE_FILL_ALPHA = 70
PANEL = (0, 0, 0, 160)


@dataclass(frozen=True)
class OverlayZone:
    polygon: list[tuple[float, float]]  # pixels of this image
    label: str  # e.g. "北侧消防车通道"
    alert: bool = False  # occupied → red, else yellow


@dataclass(frozen=True)
class OverlayBox:
    xyxy: tuple[float, float, float, float]
    label: str  # e.g. "bus 0.91 · 停留 02:15"
    alert: bool = False  # alert → red, else green


def _ink(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black text on light tags (yellow), white on dark ones (red), so labels stay readable."""
    r, g, b = color
    return BLACK if 0.299 * r + 0.587 * g + 0.114 * b > 150 else WHITE


def _tag(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont,
    color: tuple[int, int, int],
    pad: int,
    size: tuple[int, int],
    above: bool = True,
) -> None:
    """A filled label tag whose bottom-left (or top-left if ``above`` is false) is ``xy``, kept inside the image."""
    if not text:
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(0, xy[0]), max(0, size[0] - w))
    y = xy[1] - h if above else xy[1]
    y = min(max(0, y), max(0, size[1] - h))
    draw.rectangle((x, y, x + w, y + h), fill=color)
    draw.text((x + pad - left, y + pad - top), text, font=font, fill=_ink(color))


def draw_overlay(
    image_bgr: np.ndarray,
    zones: Sequence[OverlayZone],
    boxes: Sequence[OverlayBox],
    header: Sequence[str],
    font_path: Path | None = None,
) -> np.ndarray:
    """A new BGR image with zones, object boxes and a header panel; sizes scale so 320x240 and 1080p both read."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}")
    h, w = image_bgr.shape[:2]
    scale = min(w, h) / 720
    font = load_font(max(12, round(24 * scale)), font_path)
    line = max(1, round(3 * scale))
    pad = max(2, round(6 * scale))

    image = Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA fills blend onto the RGB image

    for zone in zones:
        color = RED if zone.alert else YELLOW
        points = [(float(x), float(y)) for x, y in zone.polygon]
        if len(points) < 3:
            continue
        draw.polygon(points, fill=(*color, ZONE_FILL_ALPHA))
        draw.line([*points, points[0]], fill=color, width=line, joint="curve")
        _tag(draw, (min(x for x, _ in points), min(y for _, y in points)), zone.label, font, color, pad, (w, h))

    for box in boxes:
        color = RED if box.alert else GREEN
        x1, y1, x2, y2 = (float(v) for v in box.xyxy)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line)
        _tag(draw, (x1, y1), box.label, font, color, pad, (w, h))

    lines = [text for text in header if text]
    if lines:
        ascent, descent = font.getmetrics()
        step = ascent + descent + pad
        width = max(draw.textlength(text, font=font) for text in lines)
        draw.rectangle((0, 0, width + 3 * pad, len(lines) * step + 2 * pad), fill=PANEL)
        for i, text in enumerate(lines):
            draw.text((1.5 * pad, pad + i * step + pad / 2), text, font=font, fill=WHITE)

    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def crop_object(image_bgr: np.ndarray, xyxy: Sequence[float], margin: float = 0.15, min_side: int = 160) -> np.ndarray:
    """The object with some context around it, enlarged so a plate stays legible to people and OCR."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    bw, bh = x2 - x1, y2 - y1
    if bw <= 0 or bh <= 0:
        raise ValueError(f"empty box {tuple(xyxy)}")
    h, w = image_bgr.shape[:2]
    left = max(0, int(np.floor(x1 - margin * bw)))
    top = max(0, int(np.floor(y1 - margin * bh)))
    right = min(w, int(np.ceil(x2 + margin * bw)))
    bottom = min(h, int(np.ceil(y2 + margin * bh)))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(xyxy)} lies outside the {w}x{h} image")
    crop = image_bgr[top:bottom, left:right]
    short = min(crop.shape[:2])
    if short >= min_side:
        return crop.copy()
    factor = min_side / short
    size = (max(min_side, round(crop.shape[1] * factor)), max(min_side, round(crop.shape[0] * factor)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
