"""The lane's empty appearance: whatever comes to rest in a zone, whether or not a detector has a name for it.

A per-camera reference of the empty lane is compared with every frame. A pixel that differs from it starts a *run*
with a template of what covers it. The run gains stillness while the pixel stays steady and matches the template,
loses it while something moves over it (a passer-by in front of a parked object), takes new content as its
template once that has stayed steady for ``SWAP_S`` (someone put a bag down and walked off), and ends the moment
the pixel looks like the empty lane again. Pixels still for ``min_still_s`` are static foreground; their connected
regions that touch a zone are the blobs. This is the dual-background scheme of the abandoned-object literature (a
long-term reference and a short-term template per pixel) with rules that suit a lane: the reference is learnt only
where the lane is seen empty, so an object is never absorbed however long it stays, and a run survives occlusion
but not removal.

Illumination is taken out before anything is compared: a global gain (auto-exposure) is measured on the empty
pixels of every frame, and a change that darkens or brightens a pixel while keeping its colour and the ground's
texture (a shadow, a passing cloud, a wet sheen) is the lane, not an object. Thresholds follow the noise and
compression measured on the empty pixels, and an edge that moved by up to two pixels (camera sway, resampling, a
shadow's edge creeping with the sun) is not new.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
from shapely.geometry import Polygon

MAX_WORK_PIXELS = 160_000  # the zones' surroundings are halved until they fit: 640x480 → 320x240, 1280x720 → 320x180
SWAP_S = 2.0  # new content steady this long replaces a run's template (what stays, not who walked off)
TEMPLATE_S = 5.0  # time constant with which a template follows its object's slow changes
TEXTURE_REACH = 3  # work pixels around a pixel that its texture comparison looks at (5x5 median, 3x3 mean)
SHADE = (0.35, 1 / 0.35)  # brightness ratios a shadow or a sheen can cause; darker or brighter is an object
REFERENCE_FRAME_S = 2.0  # capture time between refreshes of the full-size empty-lane picture
FIRST_LOOK_S = 2.0  # the first reference is taken over this long, so that what passes by is not in it
MAX_STEP_S = 2.0  # stillness one frame can add (0.5 fps and up): across a gap in a stream nobody saw what happened
LIGHT_LEARNING = 10  # a change of light is learnt this many times slower than drift within the noise
LUMA = np.array([[0.114, 0.587, 0.299]], np.float32)  # BGR weights of the brightness
SUM = np.ones((1, 3), np.float32)
KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class StaticBlob:
    """Something that differs from the empty lane and has stayed still for at least ``min_still_s``."""

    box: tuple[float, float, float, float]  # xyxy in frame pixels
    mask: np.ndarray  # bool, the blob's pixels inside ``box`` (its rows × columns, rounded outwards)
    since: datetime  # capture time since which it has been still there
    area_px: float  # in frame pixels
    contrast: float  # mean absolute difference to the empty reference, 0..1


class LaneAppearance:
    """Empty-lane model of one camera's zones; ``update`` it with every processed frame, in capture order.

    Tunables:
      ``min_still_s`` (8 s): how long a blob must have stayed. People who stop to talk or wait for a door stand
        a few seconds and their pixels never stay quite still, so 8 s keeps them out, while an object set down is
        reported long before any grace period ends.
      ``hold_s`` (30 s): stillness a pixel banks beyond ``min_still_s``, lost second by second while something
        moves over it: a blob that has stood ``min_still_s + hold_s`` outlasts that long a crowd in front of it.
      ``reference_s`` (10 s): time constant of learning the empty lane where it is seen (drift of light within
        the noise); a change of light, a shadow that stays, is learnt ``LIGHT_LEARNING`` times slower.
      ``min_contrast`` (0.035 of full scale, 9 grey levels): the smallest change that counts when the measured
        noise is lower; compression blocks stay below it.
      ``min_area_px`` (12 frame pixels, and at least 2 work pixels): a 3x4 px object in a 320x240 frame is found.
      ``max_gap_s`` (30 s): frames further apart than this, twice in a row (or from the start), are timed stills.
        Between stills minutes or hours apart daylight, shadows and even the camera's pose change with no frame in
        between to follow them, so no comparison of appearance tells an object from the scene: the model takes
        every still as the empty lane and reports nothing, and the detector's named classes cover stills. None:
        never (every frame is compared like video, adding at most ``MAX_STEP_S`` of stillness).

    The model never absorbs an object by itself: a car that stays for hours stays a blob. The one exception is a
    ghost, where the reference is what was wrong (something that stood there when the model started has left):
    that place is learnt as empty at once. Anything else is the caller's decision, through ``mark_clear``.
    Frames must be ``frame_size``; a camera whose size changes needs a new model.
    """

    def __init__(
        self,
        frame_size: tuple[int, int],
        zones: list[Polygon],
        *,
        min_still_s: float = 8.0,
        hold_s: float = 30.0,
        reference_s: float = 10.0,
        min_contrast: float = 0.035,
        min_area_px: float = 12.0,
        max_gap_s: float | None = 30.0,
        max_work_pixels: int = MAX_WORK_PIXELS,
    ) -> None:
        if not zones:
            raise ValueError("LaneAppearance needs at least one zone")
        self.min_still_s = min_still_s
        self.hold_s = hold_s
        self.reference_s = reference_s
        self.min_contrast = min_contrast
        self.max_gap_s = max_gap_s
        left, top, right, bottom = _bounds(zones, *frame_size)
        self.step = 1  # a power of two: halving by pixel averaging is exact and the fastest way to shrink
        while (right - left) * (bottom - top) > max_work_pixels * self.step**2:
            self.step *= 2
        columns, rows = max(1, (right - left) // self.step), max(1, (bottom - top) // self.step)
        self._crop = np.s_[top:top + rows * self.step, left:left + columns * self.step]  # whole work pixels: fast
        self._crop_size = (columns * self.step, rows * self.step)
        self._work_size = (columns, rows)
        self._origin = np.array([left, top, left, top], np.float64)
        self._frame_shape = (frame_size[1], frame_size[0])
        self._zone_mask = np.zeros((rows, columns), np.uint8)
        for polygon in zones:
            points = (np.asarray(polygon.exterior.coords) - (left, top)) / self.step
            cv2.fillPoly(self._zone_mask, [points.round().astype(np.int32)], 1)
        self._min_area = max(2.0, min_area_px / self.step**2)
        self._noise = 2.0  # grey levels, measured as frames come
        self._t0: datetime | None = None
        self._t = 0.0
        self._interval = float("inf")
        self._reference: np.ndarray | None = None
        self._first_look: list[np.ndarray] = []
        self._reference_frame: np.ndarray | None = None
        self._reference_frame_at = 0.0
        self._previous = np.zeros((rows, columns, 3), np.float32)
        self._template = np.zeros((rows, columns, 3), np.float32)
        self._running = np.zeros((rows, columns), bool)
        self._confirmed = np.zeros((rows, columns), bool)
        self._start = np.zeros((rows, columns), np.float64)  # when the current run began
        self._still = np.zeros((rows, columns), np.float32)  # seconds of stillness banked by the current run
        self._swap = np.zeros((rows, columns), np.float32)  # seconds the pixel has steadily shown something new
        self._known: list[tuple[np.ndarray, float]] = []  # the last frame's blobs: work-pixel box, since
        self._last_blobs: list[StaticBlob] = []

    # -- the caller's view -------------------------------------------------------------------------------------

    def update(self, image: np.ndarray, at: datetime, moving: list[tuple[float, float, float, float]] | None = None
               ) -> list[StaticBlob]:
        """Blobs at rest in the zones after this frame.

        ``moving``: boxes (xyxy, frame pixels) of objects the caller knows about, e.g. all its detections: the
        empty lane is not learnt under them. They hide nothing: a bag set down beside a person becomes a blob.
        """
        work = self._work_image(image)
        if self._t0 is None:
            self._t0, self._previous = at, work
        t = (at - self._t0).total_seconds()
        dt = t - self._t
        if self._reference is None:
            self._start_reference(image, work, t)
            return []
        if dt <= 0:  # a repeated or late frame tells nothing new
            return self._last_blobs
        self._t, previous_interval, self._interval = t, self._interval, dt
        if self.max_gap_s is not None and min(dt, previous_interval) > self.max_gap_s:  # timed stills
            self._previous = work
            self._forget(np.ones(self._running.shape, np.uint8))
            self._reference_frame, self._known, self._last_blobs = image.copy(), [], []
            return []
        luma = cv2.transform(work, LUMA)
        self._follow_exposure(luma)
        differs, object_ = self._against_reference(work, luma)
        self._track(work, differs, object_, t, min(dt, MAX_STEP_S))
        blobs = self._blobs(work)
        self._learn(image, work, differs, object_, [*(moving or []), *(b.box for b in blobs)], dt, t)
        self._previous, self._last_blobs = work, blobs
        return blobs

    def reference(self) -> np.ndarray | None:
        """The empty lane as last seen (frame size, BGR): the "before" picture of an obstruction."""
        return None if self._reference_frame is None else self._reference_frame.copy()

    def save(self) -> bytes | None:
        """The model's state (None before it has an empty lane), so a restarted camera goes on where it was: an
        object standing in the lane at the restart stays a blob with its time, instead of being learnt as lane."""
        if self._reference is None or self._reference_frame is None or self._t0 is None:
            return None
        ok, frame = cv2.imencode(".jpg", self._reference_frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            return None
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, geometry=self._geometry(), frame=frame,
            clock=np.array([self._t0.timestamp(), self._t, min(self._interval, 1e9), self._noise], np.float64),
            reference=self._reference.astype(np.float16), previous=_to_uint8(self._previous),
            template=_to_uint8(np.where(self._running[..., None], self._template, 0)),
            runs=np.packbits(np.stack([self._running, self._confirmed])), start=self._start.astype(np.float32),
            still=self._still.astype(np.float16), swap=self._swap.astype(np.float16))
        return buffer.getvalue()

    def restore(self, data: bytes) -> bool:
        """Go on from a state ``save`` gave, where it fits this camera's frames and zones (False otherwise: the
        model learns afresh). What happened while the camera was away is judged as across any gap in a stream:
        light that changed is followed (exposure, shade), at most ``MAX_STEP_S`` of stillness is added."""
        columns, rows = self._work_size
        try:
            with np.load(io.BytesIO(data)) as saved:
                if not np.array_equal(saved["geometry"], self._geometry()):
                    return False
                frame = cv2.imdecode(saved["frame"], cv2.IMREAD_COLOR)
                t0, t, interval, noise = (float(v) for v in saved["clock"])
                state = {name: saved[name].astype(np.float32) for name in
                         ("reference", "previous", "template", "start", "still", "swap")}
                runs = np.unpackbits(saved["runs"], count=2 * rows * columns).reshape(2, rows, columns).astype(bool)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return False
        if frame is None or frame.shape[:2] != self._frame_shape or any(
                v.shape[:2] != (rows, columns) or not np.isfinite(v).all() for v in state.values()):
            return False
        self._reference, self._previous, self._template = state["reference"], state["previous"], state["template"]
        self._start, self._still, self._swap = state["start"].astype(np.float64), state["still"], state["swap"]
        self._running, self._confirmed = runs
        self._reference_frame, self._noise, self._first_look = frame, noise, []
        self._t0 = datetime.fromtimestamp(t0, timezone.utc)
        self._t, self._interval, self._reference_frame_at = t, interval, t
        return True

    def _geometry(self) -> np.ndarray:
        height, width = self._frame_shape
        return np.array([*self._origin[:2], *self._crop_size, self.step, width, height], np.int64)

    def mark_clear(self, box: tuple[float, float, float, float] | None = None) -> None:
        """The caller says the lane (or ``box`` of it) looks as it should now, e.g. a blob that has stood there for
        hours, that no detector names and that the site says belongs there: learn what is seen there as empty."""
        if self._reference is None:
            return
        region = np.zeros(self._running.shape, np.uint8)
        region[self._work_slice(box) if box is not None else np.s_[:, :]] = 1
        self._forget(region)

    # -- model ----------------------------------------------------------------------------------------------------

    def _start_reference(self, image: np.ndarray, work: np.ndarray, t: float) -> None:
        """The first reference is the median of the first frames over ``FIRST_LOOK_S``: what passes by is left
        out (a car driving through the first frame would otherwise stay behind as a ghost)."""
        self._first_look.append(work)
        self._previous, self._reference_frame, self._t = work, image.copy(), t
        if t >= FIRST_LOOK_S and len(self._first_look) >= 3:
            self._reference = np.median(np.stack(self._first_look), axis=0).astype(np.float32)
            self._first_look = []

    def _work_image(self, image: np.ndarray) -> np.ndarray:
        crop = image[self._crop]
        if self.step == 1:
            return cv2.GaussianBlur(crop, (3, 3), 0.6).astype(np.float32)
        for _ in range(self.step.bit_length() - 1):  # averaging step x step pixels smooths noise enough
            crop = cv2.resize(crop, (crop.shape[1] // 2, crop.shape[0] // 2), interpolation=cv2.INTER_AREA)
        return crop.astype(np.float32)

    def _tolerance(self) -> float:
        return max(4.0 * self._noise, 255.0 * self.min_contrast)

    def _follow_exposure(self, luma: np.ndarray) -> None:
        """Scale reference, templates and previous frame by the gain seen on the empty pixels (auto-exposure)."""
        reference_luma = cv2.transform(self._reference, LUMA)[::2, ::2]
        seen = luma[::2, ::2]
        usable = ~self._running[::2, ::2] & (reference_luma > 12) & (seen > 12) & (seen < 245)
        if np.count_nonzero(usable) < 0.1 * usable.size:
            return
        seen, expected = seen[usable], reference_luma[usable]
        gain = float(np.clip(_median(seen / expected), 0.5, 2.0))
        self._reference *= gain
        self._template *= gain
        self._previous = self._previous * gain
        noise = 1.4826 * _median(np.abs(seen - gain * expected))
        self._noise = 0.9 * self._noise + 0.1 * max(1.0, noise)

    def _against_reference(self, work: np.ndarray, luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the picture differs from the empty lane, and where something other than light changed it.

        Brightness and colour are compared apart (colour as the part of the pixel that is not a scaled copy of the
        reference). A shadow or a sheen changes brightness within ``SHADE`` but keeps the colour and the local
        texture; an object changes at least one of them.
        """
        tolerance = self._tolerance()
        reference_luma = cv2.transform(self._reference, LUMA)
        colour, power = _colour_distance(work, self._reference)
        differs = (colour > tolerance) | _outside(luma, reference_luma, tolerance)
        ratio = (luma + 4.0) / (reference_luma + 4.0)
        lighting = differs & (ratio > SHADE[0]) & (ratio < SHADE[1]) & (colour <= tolerance + 0.06 * np.sqrt(power))
        if lighting.any():  # texture is compared only around the pixels it decides
            x, y, w, h = cv2.boundingRect(lighting.view(np.uint8))
            reach = TEXTURE_REACH
            around = np.s_[max(0, y - reach):y + h + reach, max(0, x - reach):x + w + reach]
            lighting[around] &= _same_texture(luma[around], reference_luma[around], tolerance)
        return differs, differs & ~lighting

    def _track(self, work: np.ndarray, differs: np.ndarray, object_: np.ndarray, t: float, dt: float) -> None:
        """Advance every pixel's run (see the module docstring). Only an object starts one. A change of light
        ends it until the run is confirmed; after that only the empty lane itself does, because a dark coat
        passing over a parked box, or a shadow falling on it, looks like a change of light."""
        tolerance = self._tolerance()
        self._end_runs(self._running & (~differs | ~(object_ | self._confirmed)))
        steady = cv2.transform(cv2.absdiff(work, self._previous), SUM) <= 2.0 * tolerance
        like_template = cv2.transform(cv2.absdiff(work, self._template), SUM) <= 2.0 * tolerance
        still = self._running & steady & like_template
        swapping = self._running & steady & ~like_template
        covered = self._running & ~steady
        np.add(self._still, dt, out=self._still, where=still)
        np.subtract(self._still, dt, out=self._still, where=covered)
        np.clip(self._still, 0.0, self.min_still_s + self.hold_s, out=self._still)
        np.add(self._swap, dt, out=self._swap, where=swapping)
        np.subtract(self._swap, dt, out=self._swap, where=covered)  # passers-by do not add up to new content
        np.putmask(self._swap, still | (self._swap < 0), 0.0)
        cv2.accumulateWeighted(work, self._template, min(1.0, dt / TEMPLATE_S), mask=still.view(np.uint8))
        self._confirmed &= self._still > 0
        swapped = self._swap >= SWAP_S
        new = (object_ & ~self._running) | (covered & (self._still <= 0))  # nothing still left: start afresh
        cv2.copyTo(work, (swapped | new).view(np.uint8), self._template)
        np.copyto(self._start, t - self._swap, where=swapped)
        np.copyto(self._still, np.maximum(self._still, self._swap), where=swapped)
        np.putmask(self._start, new, t)
        np.putmask(self._still, new, 0.0)
        np.putmask(self._swap, swapped | new, 0.0)
        self._confirmed &= ~new  # a swap keeps it: something has stood here all along, lit or posed differently
        self._running |= new
        self._confirmed |= self._running & (self._still >= self.min_still_s)

    def _end_runs(self, region: np.ndarray) -> None:
        self._running &= ~region
        self._confirmed &= ~region
        np.putmask(self._still, region, 0.0)
        np.putmask(self._swap, region, 0.0)

    def _learn(self, image: np.ndarray, work: np.ndarray, differs: np.ndarray, object_: np.ndarray,
               kept_out: list, dt: float, t: float) -> None:
        """Learn the empty lane where it is seen, away from runs (an edge learnt beside an object would let the
        5x5 comparison eat it from the rim in) and from what the caller tracks. A change of light is learnt ten
        times slower than drift: the flat inside of a grey object looks just like a shadow until its rim has
        stood still for ``min_still_s``."""
        learnable = ~cv2.dilate(self._running.view(np.uint8), KERNEL).view(bool)
        for box in kept_out:
            learnable[self._work_slice(box)] = False
        cv2.accumulateWeighted(work, self._reference, min(1.0, dt / self.reference_s),
                               mask=(learnable & ~differs).view(np.uint8))
        cv2.accumulateWeighted(work, self._reference, min(1.0, dt / (LIGHT_LEARNING * self.reference_s)),
                               mask=(learnable & differs & ~object_).view(np.uint8))
        empty = learnable & ~object_
        if t - self._reference_frame_at >= REFERENCE_FRAME_S:
            self._reference_frame_at = t
            keep = cv2.resize((~empty).view(np.uint8), self._crop_size, interpolation=cv2.INTER_NEAREST)
            refreshed = image.copy()
            cv2.copyTo(self._reference_frame[self._crop], keep, refreshed[self._crop])
            self._reference_frame = refreshed

    def _forget(self, region: np.ndarray) -> None:
        """Take the latest picture as the empty lane in ``region`` (uint8 mask) and end the runs there."""
        cv2.copyTo(self._previous, region, self._reference)
        self._end_runs(region.astype(bool))

    def _work_slice(self, box: tuple[float, float, float, float]) -> tuple[slice, slice]:
        x1, y1, x2, y2 = self._to_work(box)
        return np.s_[max(0, int(y1)):max(0, int(np.ceil(y2))), max(0, int(x1)):max(0, int(np.ceil(x2)))]

    # -- blobs --------------------------------------------------------------------------------------------------

    def _blobs(self, work: np.ndarray) -> list[StaticBlob]:
        static = self._confirmed & self._running
        blobs, known = [], []
        if static.any():  # bridge the gaps of a rim that is only partly still yet: one object, one blob
            closed = cv2.morphologyEx(static.view(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
            outlines, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for outline in sorted(outlines, key=cv2.contourArea, reverse=True):
                x, y, w, h = cv2.boundingRect(outline)
                corners = np.array([x, y, x + w, y + h], np.float64)
                if any(_overlap(corners, other) > 0.8 for other, _ in known):
                    continue  # a piece of an object's inside, cut off from its rim: the same object
                blob = self._blob(work, outline, corners)
                if blob is not None:
                    blobs.append(blob)
                    known.append((corners, (blob.since - self._t0).total_seconds()))
        self._known = known
        return blobs

    def _blob(self, work: np.ndarray, outline: np.ndarray, corners: np.ndarray) -> StaticBlob | None:
        """The blob inside one outline of static pixels (holes filled), unless it is too small, outside the
        zones, or a ghost."""
        x, y, right, bottom = corners.astype(int)
        window = np.s_[y:bottom, x:right]
        component = np.zeros((bottom - y, right - x), np.uint8)
        cv2.drawContours(component, [outline], -1, 1, thickness=cv2.FILLED, offset=(-x, -y))
        component = component.view(bool)
        area = np.count_nonzero(component)
        if area < self._min_area or not self._zone_mask[window][component].any():
            return None
        if self._is_ghost(work, window, component):
            region = np.zeros(self._running.shape, np.uint8)
            region[window][component] = 1
            self._forget(region)
            return None
        box = tuple(float(v) for v in corners * self.step + self._origin)
        size = (max(1, round(box[2]) - int(box[0])), max(1, round(box[3]) - int(box[1])))
        since = self._since(corners, self._start[window][component & self._running[window]])
        return StaticBlob(
            box=box,
            mask=cv2.resize(component.view(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0,
            since=self._t0 + timedelta(seconds=since),
            area_px=float(area * self.step**2),
            contrast=float(np.abs(work[window] - self._reference[window]).mean(axis=2)[component].mean() / 255),
        )

    def _to_work(self, box: tuple[float, float, float, float]) -> np.ndarray:
        return (np.asarray(box, np.float64) - self._origin) / self.step

    def _since(self, corners: np.ndarray, starts: np.ndarray) -> float:
        """A blob that overlaps one of the last frame's keeps its time however its outline changes; a new one
        dates from when most of its pixels came to rest."""
        inherited = [since for other, since in self._known if _overlap(corners, other) >= 0.3]
        return min(inherited) if inherited else float(np.median(starts)) if starts.size else self._t

    def _is_ghost(self, work: np.ndarray, window: tuple[slice, slice], component: np.ndarray) -> bool:
        """True when the reference, not the picture, holds the odd one out: what stood there when the model
        started has left. Then the reference has an edge along the blob's outline that the picture lacks, or the
        reference's inside stands out from its surroundings while the picture's blends in with them."""
        pad = 3
        rows, columns = window
        top, left = max(0, rows.start - pad), max(0, columns.start - pad)
        around = np.s_[top:rows.stop + pad, left:columns.stop + pad]
        inside = np.zeros(self._running[around].shape, np.uint8)
        inside[rows.start - top:rows.stop - top, columns.start - left:columns.stop - left] = component
        ring = (cv2.dilate(inside, KERNEL, iterations=pad) > 0) & ~(inside > 0)
        outline = (cv2.dilate(inside, KERNEL) > 0) & ~(cv2.erode(inside, KERNEL) > 0)
        inside = inside > 0
        seen, expected = work[around], self._reference[around]
        slack = self._tolerance() / 4
        edge_seen = _edge_strength(cv2.transform(seen, LUMA))[outline].mean()
        edge_expected = _edge_strength(cv2.transform(expected, LUMA))[outline].mean()
        stands_out_seen = np.abs(seen[inside].mean(axis=0) - seen[ring].mean(axis=0)).sum()
        stands_out_expected = np.abs(expected[inside].mean(axis=0) - expected[ring].mean(axis=0)).sum()
        return bool(edge_expected > 1.5 * edge_seen + slack or stands_out_expected > 2.0 * stands_out_seen + slack)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _median(values: np.ndarray) -> float:
    middle = values.size // 2
    return float(np.partition(values, middle)[middle])


def _outside(values: np.ndarray, other: np.ndarray, tolerance: float) -> np.ndarray:
    """True where a value is off the range of ``other``'s 5x5 neighbourhood by more than ``tolerance``: an edge
    that moved up to two pixels (camera sway, resampling, a shadow's edge creeping with the sun) is no change."""
    near = np.ones((5, 5), np.uint8)
    return (values < cv2.erode(other, near) - tolerance) | (values > cv2.dilate(other, near) + tolerance)


def _colour_distance(work: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of each pixel that is not a scaled copy of ``other``'s (a change of colour, not of light), and
    ``other``'s squared length."""
    power = cv2.transform(other * other, SUM) + 1.0
    dot = cv2.transform(work * other, SUM)
    return np.sqrt(np.maximum(cv2.transform(work * work, SUM) - dot * dot / power, 0.0)), power


def _same_texture(luma: np.ndarray, other: np.ndarray, tolerance: float) -> np.ndarray:
    """True where the picture is the other one under different light: their ratio is flat, or steps once at a
    shadow's edge. An object instead shows its own texture in the ratio, or the ground's where it hides it."""
    ratio = (luma + 4.0) / (other + 4.0)
    texture = np.abs(ratio - cv2.medianBlur(ratio, 5))  # a 5x5 median keeps steps and drops texture
    texture *= (other + 4.0) / np.maximum(ratio, 1.0)  # in grey levels of the darker of the two, as noise is
    return cv2.boxFilter(texture, -1, (3, 3)) <= 0.5 * tolerance


def _edge_strength(luma: np.ndarray) -> np.ndarray:
    return np.abs(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two boxes over the smaller one's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    return float(width * height / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))


def _bounds(zones: list[Polygon], width: int, height: int) -> tuple[int, int, int, int]:
    """The zones' bounding box grown by a margin (objects straddle zone edges), inside the frame."""
    x1, y1 = min(p.bounds[0] for p in zones), min(p.bounds[1] for p in zones)
    x2, y2 = max(p.bounds[2] for p in zones), max(p.bounds[3] for p in zones)
    margin = 0.1 * max(width, height)
    left, top = max(0, int(x1 - margin)), max(0, int(y1 - margin))
    right, bottom = min(width, int(np.ceil(x2 + margin))), min(height, int(np.ceil(y2 + margin)))
    return left, top, max(right, left + 1), max(bottom, top + 1)
