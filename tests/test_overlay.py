"""Fonts, evidence overlays, plate crops and WebM clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from service.clip import ClipError, write_webm
from service.fonts import FontNotFoundError, find_cjk_font, load_font
from service.overlay import OverlayBox, OverlayZone, crop_object, draw_overlay

CHINESE = "消防车通道"
NOT_IN_ANY_FONT = "\U0010fffd"  # a private-use code point: every font draws its notdef (tofu) for it


# --- fonts -------------------------------------------------------------------------------------------


def test_font_is_found_and_exists() -> None:
    path = find_cjk_font()
    assert path.is_file()
    assert find_cjk_font(path) == path


def test_explicit_and_env_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_cjk_font()
    with pytest.raises(FontNotFoundError):
        find_cjk_font(tmp_path / "missing.ttf")
    monkeypatch.setenv("FIRELANE_FONT", str(real))
    assert find_cjk_font() == real
    monkeypatch.setenv("FIRELANE_FONT", str(tmp_path / "missing.otf"))
    with pytest.raises(FontNotFoundError, match="FIRELANE_FONT"):
        find_cjk_font()


def test_load_font_is_cached() -> None:
    assert load_font(20) is load_font(20)
    assert load_font(20) is not load_font(21)


def test_font_renders_each_chinese_character() -> None:
    """Tofu looks the same for every character, so distinct glyphs unlike the notdef prove real coverage."""
    font = load_font(32)
    notdef = np.asarray(font.getmask(NOT_IN_ANY_FONT))
    masks = [np.asarray(font.getmask(ch)) for ch in CHINESE]
    for ch, mask in zip(CHINESE, masks):
        assert mask.size and mask.max() > 0, ch
        assert mask.shape != notdef.shape or not np.array_equal(mask, notdef), f"{ch} renders as tofu"
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert masks[i].shape != masks[j].shape or not np.array_equal(masks[i], masks[j])

    # each character cell of the rendered string has ink
    image = Image.new("L", (400, 80), 255)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((10, 10), CHINESE, font=font)
    assert right - left > 4 * 32
    draw.text((10, 10), CHINESE, font=font, fill=0)
    ink = np.asarray(image)[top:bottom, left:right] < 128
    for cell in np.array_split(ink, len(CHINESE), axis=1):
        assert cell.sum() > 20


# --- overlay -----------------------------------------------------------------------------------------


def _scene(w: int, h: int) -> tuple[np.ndarray, OverlayZone, OverlayBox]:
    image = np.full((h, w, 3), 128, np.uint8)
    zone = OverlayZone([(0.5 * w, 0.45 * h), (0.95 * w, 0.45 * h), (0.95 * w, 0.95 * h), (0.5 * w, 0.95 * h)],
                       "北侧消防车通道", alert=True)
    box = OverlayBox((0.1 * w, 0.5 * h, 0.4 * w, 0.9 * h), "bus 0.91 · 停留 02:15")
    return image, zone, box


@pytest.mark.parametrize(("w", "h"), [(320, 240), (1280, 720), (1920, 1080)])
def test_draw_overlay(w: int, h: int) -> None:
    image, zone, box = _scene(w, h)
    before = image.copy()
    header = ["摄像头：东门 01", "时间：2024-05-01 08:30:00", "区域：北侧消防车通道", "停留：02:15"]
    out = draw_overlay(image, [zone], [box], header)

    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    assert np.array_equal(image, before)

    # inside the alert zone, away from its label: red tint (BGR)
    b, g, r = out[int(0.8 * h), int(0.8 * w)].astype(int)
    assert r > 128 + 20 and b < 128 and g < 128

    # on the left edge of the box: solid green outline
    b, g, r = out[int(0.7 * h), int(0.1 * w)].astype(int)
    assert g > 150 and r < 100 and b < 150
    assert np.array_equal(out[int(0.7 * h), int(0.25 * w)], before[int(0.7 * h), int(0.25 * w)])  # box interior

    # header: dark panel with bright text, absent without a header
    without = draw_overlay(image, [zone], [box], [])
    corner = (slice(0, int(0.12 * h)), slice(0, int(0.3 * w)))
    assert not np.array_equal(out[corner], without[corner])
    assert out[2, 2].max() < 80
    assert (out[corner] > 200).all(axis=2).sum() > 20


def test_zone_colours_follow_alert() -> None:
    image, zone, _ = _scene(320, 240)
    calm = OverlayZone(zone.polygon, zone.label, alert=False)
    b, g, r = draw_overlay(image, [calm], [], [])[200, 250].astype(int)
    assert r > 128 and g > 128 and b < 128  # yellow tint


def test_draw_overlay_rejects_non_bgr() -> None:
    with pytest.raises(ValueError):
        draw_overlay(np.zeros((10, 10), np.uint8), [], [], [])


# --- crop --------------------------------------------------------------------------------------------


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def test_crop_upscales_to_min_side(noise: np.ndarray) -> None:
    crop = crop_object(noise, (200, 200, 300, 250))  # 100x50 + 15% margin → 130x66 pixels
    assert crop.shape == (160, round(130 * 160 / 66), 3)


def test_crop_margin_without_upscale(noise: np.ndarray) -> None:
    crop = crop_object(noise, (200, 200, 300, 250), min_side=1)
    assert np.array_equal(crop, noise[192:258, 185:315])
    assert not np.shares_memory(crop, noise)


def test_crop_clips_at_borders(noise: np.ndarray) -> None:
    assert np.array_equal(crop_object(noise, (0, 0, 50, 50), min_side=1), noise[0:58, 0:58])
    assert np.array_equal(crop_object(noise, (600, 440, 640, 480), min_side=1), noise[434:480, 594:640])
    assert crop_object(noise, (-30, -30, 700, 500)).shape == noise.shape


@pytest.mark.parametrize("xyxy", [(10, 10, 10, 50), (10, 50, 60, 40), (700, 10, 800, 50)])
def test_crop_rejects_empty_box(noise: np.ndarray, xyxy: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        crop_object(noise, xyxy)


# --- clip --------------------------------------------------------------------------------------------


def _read(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def _frames(n: int, w: int, h: int):
    for i in range(n):
        yield np.full((h, w, 3), 20 + 20 * i, np.uint8)


def test_write_webm_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    assert write_webm(_frames(10, 320, 240), path, fps=10) == 10
    frames = _read(path)
    assert len(frames) == 10
    assert all(f.shape == (240, 320, 3) for f in frames)
    assert abs(int(frames[5].mean()) - 120) < 10
    assert list(tmp_path.iterdir()) == [path]


def test_write_webm_downscales_to_even_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.webm"
    assert write_webm(_frames(4, 1000, 563), path, fps=5, max_width=500) == 4
    frames = _read(path)
    assert len(frames) == 4 and frames[0].shape == (282, 500, 3)


def test_write_webm_resizes_to_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "mixed.webm"
    frames = [np.zeros((240, 320, 3), np.uint8), np.zeros((480, 640, 3), np.uint8), np.zeros((100, 100), np.uint8)]
    assert write_webm(frames, path, fps=5) == 3
    back = _read(path)
    assert len(back) == 3 and all(f.shape == (240, 320, 3) for f in back)


def test_write_webm_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.webm"
    with pytest.raises(ClipError):
        write_webm([], path, fps=10)
    assert list(tmp_path.iterdir()) == []


def test_write_webm_failure_leaves_nothing(tmp_path: Path) -> None:
    def broken():
        yield from _frames(3, 320, 240)
        raise RuntimeError("camera went away")

    path = tmp_path / "broken.webm"
    with pytest.raises(RuntimeError):
        write_webm(broken(), path, fps=10)
    assert list(tmp_path.iterdir()) == []


def test_write_webm_writer_not_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def __init__(self, *args: object) -> None:
            pass

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoWriter", Closed)
    with pytest.raises(ClipError):
        write_webm(_frames(2, 320, 240), tmp_path / "x.webm", fps=10)
    assert list(tmp_path.iterdir()) == []
