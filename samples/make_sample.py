#!/usr/bin/env python3
"""Generate the firelane demo scenario: ``fire-lane-demo.webm`` plus its zone file and ground truth.

Everything in the clip is drawn by this script except the vehicle, which is cut out of ``bus.jpg``, the
sample photo that the installed ``ultralytics`` package ships in ``ultralytics/assets`` (AGPL-3.0). The
passers-by and bollards in front of the bus in that photo are painted out (mirrored wheel arches, copied
neighbouring columns, inpainted lettering) so that only a plain minibus remains.

Scene: a fixed CCTV camera looking down across a courtyard road at a painted fire lane (yellow box, diagonal
hatching, the words "消防车通道 / 禁止占用" on the ground) in front of a building wall with a kerb and a
pavement. Ground markings are painted on a top-down canvas and projected with the camera's homography.

Timeline (4 fps, 170 s, 680 frames; seconds from frame 0):
  0-11 s    empty
  11-23 s   a red minibus drives through the fire lane from right to left without stopping (no violation)
  23-42 s   empty
  42-50 s   a blue minibus drives in from the left, slows down and stops inside the fire lane
  50-140 s  it stays parked, exactly still (only sensor noise and the OSD clock change)
  140-148 s it drives off to the right
  148-170 s empty

Run from anywhere: ``python samples/make_sample.py``. Every random choice comes from one fixed seed.

Size note: OpenCV's FFmpeg writer gives the VP8 encoder a fixed bitrate of about 2 bits per pixel per frame
and passes no encoder options (``OPENCV_FFMPEG_WRITER_OPTIONS`` is only used for hardware acceleration, and
``VIDEOWRITER_PROP_QUALITY`` is rejected), so the encoder always works near its best quality and the file size
depends only on the picture content. That is why the scene is soft, slightly washed out and only lightly
textured, and why the per-frame sensor noise is sparse speckle rather than dense Gaussian noise.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from importlib import metadata, resources
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import Polygon, box

HERE = Path(__file__).resolve().parent
VIDEO = HERE / "fire-lane-demo.webm"
ZONES = HERE / "fire-lane-demo.zones.json"
TRUTH = HERE / "fire-lane-demo.truth.json"

SEED = 20261102
W, H = 960, 540
FPS = 4
DURATION_S = 170
N_FRAMES = FPS * DURATION_S
START = datetime(2026, 11, 2, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))  # capture time of frame 0

# --- camera model: frontal camera pitched down over flat ground ---------------------------------------
# A ground point X (metres along the lane, + to the right) at depth Z (metres from the camera) maps to
#   u = CX + F * X / Z,   v = V_HORIZON + F * CAM_H / Z
F = 900.0
CX = W / 2
CAM_H = 8500.0 / F  # ~9.4 m: camera on a building across the road
V_HORIZON = -180.0  # the horizon lies above the frame (steep CCTV view)

WALL_Z = 18.2  # building wall (a vertical plane facing the camera)
KERB_Z = (16.65, 16.8)  # kerb stone between pavement and road
LANE_X = (-6.2, 6.2)  # painted fire-lane box along the road
LANE_Z = (12.5, 16.5)  # 4 m wide
LINE_W = 0.2  # painted border width, metres

GROUND_X = (-11.0, 11.0)  # top-down canvas extent
GROUND_Z = (11.0, 18.3)
PX_PER_M = 100  # top-down canvas resolution

PAINT_OPACITY = 0.75  # worn road paint
HATCH_SPACING = 1.8  # metres between hatch lines
BLUR_SIGMA = 1.5  # optics softness
VIGNETTE = 0.12
CONTRAST = 0.72  # flat, slightly washed-out CCTV picture
SATURATION = 0.75
NOISE_DENSITY = 0.0003  # share of pixels hit by per-frame speckle noise
NOISE_SIGMA = 5.0

FONT_PATH = str(
    metadata.distribution("cvttf-notosanscjk-regular").locate_file(
        "cvttf_NotoSansCJK_Regular/NotoSansCJKtc-Regular.otf"
    )
)

# --- vehicle --------------------------------------------------------------------------------------------
BUS_W = 400  # on-screen width of the minibus sprite, px (≈ 6 m at the lane's depth)
BUS_SQUASH = 0.8  # the photo was taken up close from eye level; flatten it a little for the high camera
SPRITE_BLUR = 1.0  # same optics as the background
BUS_BASE_Y = 472  # image row of the lowest wheel contact point
PARK_X = 470  # left edge of the parked bus sprite
# Outline of the cleaned-up minibus in bus.jpg pixel coordinates (roof line, rear, skirt with wheel arches).
BUS_OUTLINE = [
    (262, 272), (266, 254), (276, 242), (292, 237), (390, 240), (502, 250), (560, 255), (677, 263),  # roof
    (715, 273), (738, 295), (784, 306), (793, 318), (797, 340), (797, 656),  # rear
    (750, 660), (748, 672), (735, 680), (722, 682), (708, 680), (697, 672), (694, 660),  # rear wheel
    (615, 664), (465, 686), (388, 694),  # skirt
    (386, 706), (372, 716), (350, 720), (328, 716), (316, 706), (312, 694),  # front wheel
    (272, 692), (264, 684),
]


def project(X: float | np.ndarray, Z: float | np.ndarray):
    """Ground point(s) to image pixel(s)."""
    return CX + F * np.asarray(X) / np.asarray(Z), V_HORIZON + F * CAM_H / np.asarray(Z)


def ground_to_canvas(X, Z):
    return (np.asarray(X) - GROUND_X[0]) * PX_PER_M, (GROUND_Z[1] - np.asarray(Z)) * PX_PER_M


def lane_polygon_px() -> list[list[int]]:
    """The painted box's outer outline in image pixels (far-left, far-right, near-right, near-left)."""
    pts = []
    for X, Z in ((LANE_X[0], LANE_Z[1]), (LANE_X[1], LANE_Z[1]), (LANE_X[1], LANE_Z[0]), (LANE_X[0], LANE_Z[0])):
        u, v = project(X, Z)
        pts.append([int(round(float(u))), int(round(float(v)))])
    return pts


def smooth_noise(rng: np.random.Generator, shape, scales=((160, 4.0),)) -> np.ndarray:
    """Multi-scale value noise (float32, roughly zero mean) for surface textures."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    for cell, amp in scales:
        small = rng.normal(0, 1, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC if cell > 1 else cv2.INTER_NEAREST)
    return out


# --- ground (top-down canvas, then projected) ----------------------------------------------------------
def paint_ground(rng: np.random.Generator) -> np.ndarray:
    cw = int((GROUND_X[1] - GROUND_X[0]) * PX_PER_M)
    ch = int((GROUND_Z[1] - GROUND_Z[0]) * PX_PER_M)
    tex = smooth_noise(rng, (ch, cw))
    # asphalt: dark grey with broad shading, a few darker patches / repairs and thin cracks
    asphalt = np.empty((ch, cw, 3), np.float32)
    base = 84 + tex
    asphalt[..., 0] = base * 0.98
    asphalt[..., 1] = base * 1.00
    asphalt[..., 2] = base * 1.02
    img = asphalt
    for _ in range(7):  # oil stains / patched asphalt
        cx, cy = rng.uniform(0, cw), rng.uniform(0, ch)
        ax, ay = rng.uniform(40, 160), rng.uniform(25, 90)
        m = np.zeros((ch, cw), np.float32)
        cv2.ellipse(m, (int(cx), int(cy)), (int(ax), int(ay)), rng.uniform(0, 180), 0, 360, 1.0, -1)
        m = cv2.GaussianBlur(m, (0, 0), 18)
        img *= (1 - 0.18 * m)[..., None]
    for _ in range(5):  # thin cracks
        pts = [(rng.uniform(0, cw), rng.uniform(0, ch))]
        for _ in range(8):
            x, y = pts[-1]
            pts.append((x + rng.normal(0, 40), y + rng.normal(0, 25)))
        cv2.polylines(img, [np.int32(pts)], False, (52, 53, 55), 2, cv2.LINE_AA)

    def band(z0, z1):
        _, r0 = ground_to_canvas(0, z1)
        _, r1 = ground_to_canvas(0, z0)
        return int(round(float(r0))), int(round(float(r1)))

    # pavement behind the kerb: light concrete slabs, 1 m x 1 m
    r0, r1 = band(KERB_Z[1], GROUND_Z[1])
    pav = 150 + 0.8 * tex[r0:r1]
    img[r0:r1] = np.stack([pav * 0.97, pav * 0.99, pav * 1.0], -1)
    step = PX_PER_M
    for c in range(0, cw, step):
        img[r0:r1, c : c + 3] *= 0.72
    for r in range(r1 - 3, r0, -step):
        img[r : r + 3, :] *= 0.72
    # kerb stone
    r0, r1 = band(*KERB_Z)
    kerb = 175 + 0.5 * tex[r0:r1]
    img[r0:r1] = np.stack([kerb * 0.98, kerb, kerb], -1)
    for c in range(0, cw, PX_PER_M):
        img[r0:r1, c : c + 2] *= 0.6
    img[r1 : r1 + 4] *= 0.55  # gutter shadow in front of the kerb

    # painted fire-lane box: yellow border, 45° hatching, the words on the ground
    paint = np.zeros((ch, cw), np.float32)
    x0, y0 = ground_to_canvas(LANE_X[0], LANE_Z[1])
    x1, y1 = ground_to_canvas(LANE_X[1], LANE_Z[0])
    x0, y0, x1, y1 = (int(round(float(v))) for v in (x0, y0, x1, y1))
    lw = int(LINE_W * PX_PER_M)
    cv2.rectangle(paint, (x0, y0), (x1, y1), 1.0, -1)
    cv2.rectangle(paint, (x0 + lw, y0 + lw), (x1 - lw, y1 - lw), 0.0, -1)
    text_box = ground_to_canvas(-5.7, 16.05) + ground_to_canvas(-0.35, 12.95)
    tx0, ty0, tx1, ty1 = (int(round(float(v))) for v in text_box)
    hatch = np.zeros_like(paint)
    spacing, width = int(HATCH_SPACING * PX_PER_M), int(0.16 * PX_PER_M)
    for k in range(x0 - (y1 - y0), x1 + spacing, spacing):
        cv2.line(hatch, (k, y1), (k + (y1 - y0), y0), 1.0, width, cv2.LINE_AA)
    hatch[:y0 + lw, :] = 0
    hatch[y1 - lw:, :] = 0
    hatch[:, : x0 + lw] = 0
    hatch[:, x1 - lw:] = 0
    hatch[ty0:ty1, tx0:tx1] = 0
    paint = np.maximum(paint, hatch)
    # text: two lines, characters stretched 1.6x along the depth axis like real road lettering
    font = ImageFont.truetype(FONT_PATH, 100)
    for line, z_top in (("消防车通道", 15.85), ("禁止占用", 14.35)):
        tw = int(font.getlength(line)) + 20
        layer = Image.new("L", (tw, 150), 0)
        ImageDraw.Draw(layer).text((10, 10), line, font=font, fill=255)
        arr = np.asarray(layer, np.float32) / 255.0
        ys, xs = np.nonzero(arr > 0.05)
        arr = arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        arr = cv2.resize(arr, (arr.shape[1], int(arr.shape[0] * 1.6)), interpolation=cv2.INTER_CUBIC)
        cx_line = ground_to_canvas(-3.05, 0)[0]
        _, ry = ground_to_canvas(0, z_top)
        rx = int(round(float(cx_line) - arr.shape[1] / 2))
        ry = int(round(float(ry)))
        region = paint[ry : ry + arr.shape[0], rx : rx + arr.shape[1]]
        np.maximum(region, np.clip(arr, 0, 1), out=region)
    # worn paint: patchy, partly transparent
    wear = np.clip(PAINT_OPACITY + 0.03 * smooth_noise(rng, (ch, cw), ((24, 2.0), (80, 2.5))), 0.45, 1.0)
    alpha = (paint * wear)[..., None]
    yellow = np.array([38, 178, 222], np.float32) * (1 + tex[..., None] / 300)
    img = img * (1 - alpha) + yellow * alpha
    return np.clip(img, 0, 255).astype(np.uint8)


def project_ground(canvas: np.ndarray) -> np.ndarray:
    """Warp the top-down canvas into the camera view (2x supersampled)."""
    corners_g = [
        (GROUND_X[0], GROUND_Z[1]), (GROUND_X[1], GROUND_Z[1]), (GROUND_X[1], GROUND_Z[0]), (GROUND_X[0], GROUND_Z[0])
    ]
    src = np.float32([ground_to_canvas(X, Z) for X, Z in corners_g])
    dst = np.float32([project(X, Z) for X, Z in corners_g]) * 2
    hom = cv2.getPerspectiveTransform(src, dst)
    big = cv2.warpPerspective(canvas, hom, (2 * W, 2 * H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA)


# --- building wall -------------------------------------------------------------------------------------
def draw_text(img: np.ndarray, xy, text: str, size: int, fill, stroke: int = 0, stroke_fill=(0, 0, 0)) -> None:
    """Draw (CJK) text onto a BGR uint8 image in place with Pillow."""
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    font = ImageFont.truetype(FONT_PATH, size)
    ImageDraw.Draw(pil).text(xy, text, font=font, fill=fill, stroke_width=stroke, stroke_fill=stroke_fill)
    img[:] = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def paint_wall(rng: np.random.Generator, scene: np.ndarray) -> None:
    _, v_base = project(0, WALL_Z)
    v_base = int(round(float(v_base)))
    ppm = F / WALL_Z  # px per metre on the wall plane
    tex = smooth_noise(rng, (v_base, W), ((60, 2.0), (200, 3.0)))
    wall = np.empty((v_base, W, 3), np.float32)
    wall[..., 0] = 178 + tex
    wall[..., 1] = 196 + tex
    wall[..., 2] = 208 + tex  # cream plaster (BGR)
    band = int(v_base - 3.4 * ppm)  # painted band at first-floor level
    wall[band : band + int(0.25 * ppm)] *= np.float32([0.78, 0.8, 0.84])
    plinth = int(0.65 * ppm)  # dark granite plinth at the foot of the wall
    wall[v_base - plinth :] = np.stack([96 + tex[v_base - plinth :]] * 3, -1) * np.float32([1.0, 0.98, 0.97])
    wall[v_base - plinth : v_base - plinth + 2] *= 0.7
    # two ground-floor windows (left) and a glass door with a canopy (right)
    for x0 in (40, 245):
        x1 = x0 + int(2.6 * ppm)
        y0, y1 = int(v_base - 2.9 * ppm), int(v_base - 1.0 * ppm)
        wall[y0 - 6 : y1 + 6, x0 - 6 : x1 + 6] = (150, 158, 162)
        glass = np.linspace(70, 95, y1 - y0, dtype=np.float32)[:, None, None] * np.float32([1.08, 1.0, 0.92])
        wall[y0:y1, x0:x1] = glass + tex[y0:y1, x0:x1, None] * 0.6
        for bx in (x0 + (x1 - x0) // 3, x0 + 2 * (x1 - x0) // 3):  # mullions
            wall[y0:y1, bx - 2 : bx + 2] = (120, 126, 130)
        wall[y1 + 6 : y1 + 10, x0 - 10 : x1 + 10] = (120, 125, 128)
    dx0, dx1 = 790, 790 + int(2.4 * ppm)
    dy0 = int(v_base - 2.6 * ppm)
    wall[dy0:v_base, dx0:dx1] = (72, 70, 66)
    door_glass = np.linspace(88, 58, v_base - dy0 - 6, dtype=np.float32)[:, None, None]
    wall[dy0 + 6 : v_base, dx0 + 6 : dx1 - 6] = door_glass * np.float32([1.1, 1.02, 0.95])
    cx = (dx0 + dx1) // 2
    wall[dy0 + 6 : v_base, cx - 2 : cx + 2] = (50, 50, 50)
    wall[dy0 - 14 : dy0, dx0 - 20 : dx1 + 20] = (150, 150, 146)
    wall[dy0 - 2 : dy0, dx0 - 20 : dx1 + 20] = (90, 90, 88)
    # fire hydrant cabinet
    hx0, hy0 = 690, int(v_base - 2.1 * ppm)
    wall[hy0 : hy0 + int(1.1 * ppm), hx0 : hx0 + int(0.75 * ppm)] = (40, 40, 185)
    wall[hy0 + 4 : hy0 + int(1.1 * ppm) - 4, hx0 + 4 : hx0 + int(0.75 * ppm) - 4] = (60, 60, 200)
    # a long drainpipe
    wall[:v_base - plinth, 585:593] = (150, 152, 150)
    wall[:v_base - plinth, 587:589] = (185, 188, 186)
    scene[:v_base] = np.clip(wall, 0, 255).astype(np.uint8)
    # red warning sign and labels
    sx0, sy0 = 330, 20
    cv2.rectangle(scene, (sx0, sy0), (sx0 + 250, sy0 + 44), (35, 30, 180), -1)
    cv2.rectangle(scene, (sx0 + 3, sy0 + 3), (sx0 + 247, sy0 + 41), (235, 235, 235), 1)
    draw_text(scene, (sx0 + 14, sy0 + 4), "消防通道 严禁堵塞", 26, (255, 255, 255))
    draw_text(scene, (hx0 + 4, hy0 + 10), "消火栓", 11, (255, 255, 255))
    draw_text(scene, (dx0 + 30, dy0 - 15), "3号门", 12, (40, 40, 40))


# --- minibus sprite from ultralytics' bus.jpg ----------------------------------------------------------
def bus_photo_path() -> Path:
    return Path(str(resources.files("ultralytics") / "assets" / "bus.jpg"))


def build_bus_sprite() -> tuple[np.ndarray, np.ndarray]:
    """The minibus from bus.jpg without the people and bollards in front of it: (BGR, alpha 0..1)."""
    im = cv2.imread(str(bus_photo_path()))
    if im is None or im.shape[:2] != (1080, 810):
        raise SystemExit(f"unexpected bus.jpg at {bus_photo_path()}")
    b = im.copy()
    b[600:720, 424:464] = im[600:720, 468:508]  # bollard in front of the skirt
    b[590:720, 652:696] = im[590:720, 606:650]  # second bollard
    for x in range(723, 810):  # passer-by at the rear: mirror the rear wheel arch
        b[385:720, x] = b[385:720, 2 * 722 - x]
    for x in range(260, 348):  # passer-by at the front: mirror around the door pillar
        b[398:720, x] = b[398:720, 2 * 348 - x]
    # paint out lettering / logos (thin light or green strokes) on the body panels
    hsv = cv2.cvtColor(b, cv2.COLOR_BGR2HSV)
    light = (hsv[..., 2] > 150) & (hsv[..., 1] < 90)
    green = (hsv[..., 0] > 20) & (hsv[..., 0] < 45) & (hsv[..., 1] > 80) & (hsv[..., 2] > 90)
    mask = np.zeros(b.shape[:2], bool)
    mask[525:650, 250:810] |= light[525:650, 250:810]
    mask[380:480, 560:810] |= (light | green)[380:480, 560:810]
    mask[320:354, 410:505] |= light[320:354, 410:505]  # "EMT MADRID" sticker
    dark = hsv[..., 2] < 175
    mask[328:355, 555:775] |= dark[328:355, 555:775]  # lettering on the white roof-line banner
    mask = cv2.dilate(mask.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    b = cv2.inpaint(b, mask, 7, cv2.INPAINT_TELEA)

    outline = np.int32(BUS_OUTLINE)
    x0, y0 = outline.min(0)
    x1, y1 = outline.max(0) + 1
    crop = b[y0:y1, x0:x1].astype(np.float32)
    alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(alpha, [outline - [x0, y0]], 1.0, cv2.LINE_AA)
    # match the overcast CCTV look: less contrast and saturation than the sunny photo
    crop = 0.9 * crop + 0.1 * 128 - 8  # the photo is sunnier than the scene
    scale = BUS_W / crop.shape[1]
    size = (BUS_W, int(round(crop.shape[0] * scale * BUS_SQUASH)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    crop = cv2.GaussianBlur(crop, (0, 0), SPRITE_BLUR)  # same optics as the background
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.9)  # feathered edge
    return np.clip(crop, 0, 255).astype(np.uint8), np.clip(alpha, 0, 1)


def recolour_red(bgr: np.ndarray) -> np.ndarray:
    """A second, different-looking vehicle: turn the blue livery red."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.int16)
    blue = (hsv[..., 0] > 90) & (hsv[..., 0] < 130) & (hsv[..., 1] > 60)
    hsv[..., 0] = np.where(blue, (hsv[..., 0] + 75) % 180, hsv[..., 0])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


# --- timeline -------------------------------------------------------------------------------------------
PASS_T = (11.0, 23.0)
ARRIVE_T = (42.0, 50.0)
DEPART_T = (140.0, 148.0)


def vehicles_at(t: float, sprite_w: int) -> list[tuple[str, float]]:
    """Which sprite is where (left edge x) at time t."""
    out = []
    if PASS_T[0] <= t < PASS_T[1]:  # constant speed, right to left, fully off-screen at both ends
        k = (t - PASS_T[0]) / (PASS_T[1] - PASS_T[0])
        out.append(("pass", W + (-sprite_w - W) * k))
    if ARRIVE_T[0] <= t < ARRIVE_T[1]:  # decelerates to a stop
        k = (t - ARRIVE_T[0]) / (ARRIVE_T[1] - ARRIVE_T[0])
        out.append(("park", -sprite_w + (PARK_X + sprite_w) * (1 - (1 - k) ** 2)))
    elif ARRIVE_T[1] <= t < DEPART_T[0]:
        out.append(("park", float(PARK_X)))
    elif DEPART_T[0] <= t < DEPART_T[1]:  # accelerates away to the right
        k = (t - DEPART_T[0]) / (DEPART_T[1] - DEPART_T[0])
        out.append(("park", PARK_X + (W - PARK_X) * k**2))
    return out


def footprint_overlap(bbox, polygon) -> float:
    """Share of the bottom-30% band of a box that lies inside the zone polygon (the firelane rule)."""
    x1, y1, x2, y2 = bbox
    band = box(x1, y2 - 0.3 * (y2 - y1), x2, y2)
    return band.intersection(Polygon(polygon)).area / band.area if band.area > 0 else 0.0


class Renderer:
    """Builds the static scene once and renders frame i of the clip (deterministic for a given seed)."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = np.random.default_rng(seed)
        scene = project_ground(paint_ground(self.rng))
        paint_wall(self.rng, scene)
        # CCTV optics: slight softness and vignetting
        scene = cv2.GaussianBlur(scene, (0, 0), BLUR_SIGMA).astype(np.float32)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        vign = 1 - VIGNETTE * (((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2) / 2
        self.scene = scene * vign[..., None]
        bus, bus_a = build_bus_sprite()
        self.sprites = {
            # the parked bus faces right (mirrored photo), the passing one faces left and is painted red
            "park": (np.ascontiguousarray(bus[:, ::-1]).astype(np.float32), np.ascontiguousarray(bus_a[:, ::-1])),
            "pass": (recolour_red(bus).astype(np.float32), bus_a),
        }
        self.sprite_h, self.sprite_w = bus_a.shape
        self.top = BUS_BASE_Y - self.sprite_h  # image row of the sprite's first row
        self.polygon = lane_polygon_px()
        self.font_osd = ImageFont.truetype(FONT_PATH, 17)

    def render(self, i: int) -> tuple[np.ndarray, dict[str, list[float]]]:
        """Frame i (BGR uint8) and the visible box of each vehicle in it."""
        t = i / FPS
        frame = self.scene.copy()
        boxes = {}
        sh, sw, top = self.sprite_h, self.sprite_w, self.top
        for name, left in vehicles_at(t, sw):
            img, a = self.sprites[name]
            lx = int(round(left))
            fx0, fx1 = max(0, lx), min(W, lx + sw)
            if fx1 <= fx0:
                continue
            # contact shadow on the ground under the body
            sh_mask = np.zeros((H, W), np.float32)
            cv2.rectangle(sh_mask, (lx + 12, BUS_BASE_Y - 40), (lx + sw - 12, BUS_BASE_Y + 2), 1.0, -1)
            sh_mask = cv2.GaussianBlur(sh_mask, (0, 0), 7)
            frame *= (1 - 0.55 * sh_mask)[..., None]
            # paste the sprite (clipped to the frame)
            sx0, sx1 = fx0 - lx, fx1 - lx
            region = frame[top : top + sh, fx0:fx1]
            aa = a[:, sx0:sx1, None]
            region[:] = region * (1 - aa) + img[:, sx0:sx1] * aa
            vis = a[:, sx0:sx1] > 0.5
            if vis.any():
                vy, vx = np.nonzero(vis)
                x0, y0, x1, y1 = fx0 + vx.min(), top + vy.min(), fx0 + vx.max() + 1, top + vy.max() + 1
                boxes[name] = [float(x0), float(y0), float(x1), float(y1)]
        # flat, slightly washed-out CCTV grading for the whole picture (vehicles included)
        grey = frame.mean(axis=2, keepdims=True)
        frame = 128 + (grey + (frame - grey) * SATURATION - 128) * CONTRAST
        frame += sensor_noise(self.rng)
        out = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
        # on-screen display like a real CCTV recorder
        stamp = (START + timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M:%S") + "  星期一"
        pil = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(pil)
        osd = dict(font=self.font_osd, fill=(240, 240, 240), stroke_width=1, stroke_fill=(20, 20, 20))
        draw.text((12, 8), stamp, **osd)
        draw.text((12, H - 30), "CAM03  3号门 消防通道", **osd)
        return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR), boxes


def sensor_noise(rng: np.random.Generator) -> np.ndarray:
    """Mild per-frame sensor noise: sparse speckle (about 150 pixels per frame) on top of the scene.

    OpenCV's VP8 writer cannot be told to use a modest bitrate (see the module docstring), so it keeps
    dense noise almost losslessly: Gaussian noise with sigma 2 on every pixel made a 67 MB file. Sparse
    speckle is enough to keep the decoded frames from being pixel-identical, at a small cost.
    """
    noise = np.zeros((H, W, 1), np.float32)
    n = int(H * W * NOISE_DENSITY)
    ys = rng.integers(0, H, n)
    xs = rng.integers(0, W, n)
    noise[ys, xs, 0] = rng.normal(0, NOISE_SIGMA, n)
    return noise


def dump_json(obj) -> str:
    """Indented JSON with short lists (boxes, points, polygons) kept on one line."""
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    flat = lambda m: "[" + ", ".join(part.strip() for part in m.group(1).split(",")) + "]"  # noqa: E731
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", flat, text)  # innermost lists
    flat_outer = lambda m: "[" + re.sub(r"\],\s+", "], ", m.group(1).strip()) + "]"  # noqa: E731
    text = re.sub(r"\[\s+((?:\[[^\[\]]*\],?\s*)+?)\s*\]", flat_outer, text)  # lists of short lists
    assert json.loads(text) == obj
    return text + "\n"


def main() -> None:
    r = Renderer()
    polygon = r.polygon
    writer = cv2.VideoWriter(str(VIDEO), cv2.VideoWriter_fourcc(*"VP80"), FPS, (W, H))
    if not writer.isOpened():
        raise SystemExit("OpenCV could not open a VP8 writer")
    frame_boxes: dict[str, list[tuple[float, list[float], float]]] = {"pass": [], "park": []}
    for i in range(N_FRAMES):
        frame, boxes = r.render(i)
        for name, bb in boxes.items():
            frame_boxes[name].append((i / FPS, bb, footprint_overlap(bb, polygon)))
        writer.write(frame)
    writer.release()

    # read back and check the frame count
    cap = cv2.VideoCapture(str(VIDEO))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    if n != N_FRAMES:
        raise SystemExit(f"{VIDEO.name}: read back {n} frames, expected {N_FRAMES}")

    # ground truth by construction
    def in_zone_span(name: str) -> tuple[float, float]:
        ts = [t for t, _, ov in frame_boxes[name] if ov >= 0.3]
        return ts[0], ts[-1] + 1 / FPS

    park_box = next(bb for t, bb, _ in frame_boxes["park"] if ARRIVE_T[1] <= t < DEPART_T[0])
    park_in = in_zone_span("park")
    pass_in = in_zone_span("pass")
    zones = {
        "camera_id": "demo-gate-3",
        "camera_name": "3号门 消防通道",
        "frame_size": [W, H],
        "units": "px",
        "timezone": "Asia/Shanghai",
        "zones": [
            {
                "id": "lane-1",
                "name": "北侧消防车通道",
                "kind": "fire_lane",
                "polygon": polygon,
                "grace_s": 60,
                "classes": ["vehicle", "obstacle"],
                "min_overlap": 0.3,
                "leave_s": 10,
                "active": "00:00-24:00",
            }
        ],
    }
    truth = {
        "source": VIDEO.name,
        "start": START.isoformat(),
        "fps": FPS,
        "frame_size": [W, H],
        "frames": N_FRAMES,
        "duration_s": DURATION_S,
        "events": [
            {
                "zone_id": "lane-1",
                "kind": "parked",
                "object": "bus",
                "start_s": ARRIVE_T[1],
                "end_s": DEPART_T[0],
                "in_zone_start_s": park_in[0],
                "in_zone_end_s": park_in[1],
                "box": [round(v) for v in park_box],
                "footprint_overlap": round(footprint_overlap(park_box, polygon), 3),
                "note": "start_s/end_s: stationary (wheels stopped); in_zone_*: footprint >= 30% inside the polygon",
            }
        ],
        "pass_through": [
            {
                "zone_id": "lane-1",
                "object": "bus",
                "start_s": pass_in[0],
                "end_s": pass_in[1],
                "visible_s": [PASS_T[0], PASS_T[1]],
                "note": "drives through without stopping; must not become a violation",
            }
        ],
        "expected_violations": 1,
    }
    ZONES.write_text(dump_json(zones), encoding="utf-8")
    TRUTH.write_text(dump_json(truth), encoding="utf-8")
    size_mb = VIDEO.stat().st_size / 1e6
    print(f"{VIDEO.name}: {n} frames, {size_mb:.2f} MB; polygon {polygon}; parked box {truth['events'][0]['box']}")


if __name__ == "__main__":
    main()
