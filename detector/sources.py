"""Capture: every source yields frames with the time they were captured.

Video files, RTSP/HTTP streams, folders of timed stills and single images all look the same downstream, so the
occupancy rule only ever sees (image, capture time).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[_ T](\d{2})[_:-](\d{2})[_:-](\d{2})")
# Recorder exports: ch01_20261202083000.mp4 (Hikvision), cam_20261202T083000.mp4, 20261202_083000.avi
_COMPACT_STAMP = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[T_-]?(\d{2})(\d{2})(\d{2})(?!\d)")
# Where a recorded file's first-frame time came from, for the log and the UI.
START_GIVEN, START_FROM_NAME, START_FROM_FILE_TIME = "given", "file name", "file time"


class SourceError(RuntimeError):
    """A source that cannot be read at all (missing, not a video, no decodable frame)."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    captured_at: datetime
    index: int  # position among the frames this source yielded


@dataclass(frozen=True)
class StreamGap:
    """A stretch of time a live source delivered nothing; reported, never fatal."""

    started_at: datetime
    ended_at: datetime | None
    reason: str


class FrameSource(Protocol):
    description: str
    live: bool
    expected_frames: int | None  # for progress bars; None when unknown or endless
    sample_fps: float | None  # rate of yielded frames, when regular (video and streams)
    gaps: list[StreamGap]

    def frames(self) -> Iterator[Frame]: ...


def time_from_name(name: str, tz: ZoneInfo) -> datetime | None:
    """Capture time written in a file name, in the camera's time zone: ``YYYY-MM-DD_HH_MM_SS`` (PKLot, many NVR
    exports) or compact ``YYYYMMDDTHHMMSS`` / ``YYYYMMDD_HHMMSS`` / ``YYYYMMDDHHMMSS`` (Hikvision, Dahua)."""
    for pattern in (_STAMP, _COMPACT_STAMP):
        for match in pattern.finditer(name):
            try:
                return datetime(*(int(g) for g in match.groups()), tzinfo=tz)  # type: ignore[misc]
            except ValueError:
                continue  # digits that are no date (a serial number): look further
    return None


def _file_time(path: Path, tz: ZoneInfo) -> datetime:
    return time_from_name(path.stem, tz) or datetime.fromtimestamp(path.stat().st_mtime, tz)


def _read_image(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode copes with non-ASCII paths
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


@dataclass
class ImageSource:
    path: Path
    tz: ZoneInfo
    live: bool = False
    sample_fps: float | None = None
    gaps: list[StreamGap] = field(default_factory=list)

    @property
    def description(self) -> str:
        return f"image {self.path}"

    @property
    def expected_frames(self) -> int:
        return 1

    def frames(self) -> Iterator[Frame]:
        image = _read_image(self.path)
        if image is None:
            raise SourceError(f"{self.path}: not a readable image")
        yield Frame(image, _file_time(self.path, self.tz), 0)


@dataclass
class StillsFolderSource:
    """Timed stills, ordered by the time in their names (or their modification time)."""

    folder: Path
    tz: ZoneInfo
    live: bool = False
    sample_fps: float | None = None
    gaps: list[StreamGap] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        files = [p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder")
        self._stills = sorted(((_file_time(p, self.tz), p) for p in files), key=lambda item: (item[0], item[1].name))

    @property
    def description(self) -> str:
        return f"{len(self._stills)} stills in {self.folder}"

    @property
    def expected_frames(self) -> int:
        return len(self._stills)

    def frames(self) -> Iterator[Frame]:
        index = 0
        for captured_at, path in self._stills:
            image = _read_image(path)
            if image is None:
                log.warning("%s: not a readable image, skipped", path)
                self.skipped.append(path.name)
                continue
            yield Frame(image, captured_at, index)
            index += 1
        if index == 0:
            raise SourceError(f"{self.folder}: none of the images could be decoded")


@dataclass
class VideoFileSource:
    """A recorded file, sampled at ``fps``; capture time = ``start`` + position in the file."""

    path: Path
    fps: float
    start: datetime
    start_origin: str = START_GIVEN  # START_GIVEN, START_FROM_NAME or START_FROM_FILE_TIME
    live: bool = False
    gaps: list[StreamGap] = field(default_factory=list)

    def __post_init__(self) -> None:
        capture = cv2.VideoCapture(str(self.path))
        ok = capture.isOpened()
        self.native_fps = capture.get(cv2.CAP_PROP_FPS) if ok else 0.0
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
        ok = ok and capture.read()[0]
        capture.release()
        if not ok:
            raise SourceError(f"{self.path}: not a decodable video (corrupt, truncated or unsupported codec)")
        if not (0 < self.native_fps < 1000):
            log.warning("%s: frame rate unknown, assuming 25 fps", self.path)
            self.native_fps = 25.0
        self.step = max(self.native_fps / self.fps, 1.0) if self.fps > 0 else 1.0

    @property
    def description(self) -> str:
        return f"video {self.path} ({self.native_fps:.1f} fps, sampled at {self.sample_fps:.2f} fps)"

    @property
    def sample_fps(self) -> float:
        return self.native_fps / self.step

    @property
    def expected_frames(self) -> int | None:
        return int(self.frame_count / self.step) + 1 if self.frame_count > 0 else None

    def frames(self) -> Iterator[Frame]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            position, next_keep, index = 0, 0.0, 0
            while True:
                if position + 0.5 >= next_keep:
                    ok, image = capture.read()
                    if not ok:
                        break
                    yield Frame(image, self.start + timedelta(seconds=position / self.native_fps), index)
                    index += 1
                    next_keep += self.step
                elif not capture.grab():
                    break
                position += 1
            if self.frame_count and position < 0.98 * self.frame_count - 1:  # counts in headers are estimates
                log.warning("%s: decoding stopped at frame %d of %d (truncated?)", self.path, position, self.frame_count)
        finally:
            capture.release()


Opener = Callable[[str], "cv2.VideoCapture"]


def _open_stream(url: str) -> cv2.VideoCapture:
    # a camera that stops answering is noticed within 5 s (a closed connection at once)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5_000]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


@dataclass
class StreamSource:
    """A live camera: frames stamped with the wall clock; a dropped stream is reopened with back-off.

    Every frame is read (so the decoder never lags behind the camera) but only one per ``1/fps`` seconds is
    yielded. The iterator does not end when the stream drops: it reconnects, so whoever consumes it keeps its
    state across the gap. It ends only after ``max_reconnects`` failed attempts or ``give_up_after_s`` without a
    frame (None: never, which is what a camera worker wants), or when ``stopped()`` says so; a stream that never
    delivered a frame by then raises ``SourceError``. ``on_status`` hears "reconnecting" (with the reason) the
    moment frames stop and "running" when they come back.
    """

    url: str
    fps: float
    tz: ZoneInfo
    max_reconnects: int | None = None
    give_up_after_s: float | None = None
    backoff_s: tuple[float, float] = (1.0, 60.0)
    opener: Opener = _open_stream
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], object] = time.sleep
    stopped: Callable[[], bool] = lambda: False
    on_status: Callable[[str, str | None], None] | None = None
    live: bool = True
    expected_frames: int | None = None
    gaps: list[StreamGap] = field(default_factory=list)

    @property
    def description(self) -> str:
        return f"stream {redact_url(self.url)}"

    @property
    def sample_fps(self) -> float:
        return self.fps

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc).astimezone(self.tz)

    def _status(self, state: str, reason: str | None) -> None:
        if self.on_status is not None:
            self.on_status(state, reason)

    def frames(self) -> Iterator[Frame]:
        index, failures, next_yield = 0, 0, 0.0
        gap_start: datetime | None = None
        gap_reason = ""
        waiting_since = self.clock()  # start of the current stretch without frames
        while not self.stopped():
            capture = self.opener(self.url)
            reason = "could not open stream"
            if capture.isOpened():
                while not self.stopped():
                    ok, image = capture.read()
                    if not ok or image is None:
                        reason = "stream stopped delivering frames"
                        break
                    if gap_start is not None:
                        self._close_gap(gap_start, self._now(), gap_reason)
                        gap_start = None
                    if failures or index == 0:
                        self._status("running", None)
                    failures = 0
                    now = waiting_since = self.clock()
                    if now >= next_yield:
                        next_yield = now + 1.0 / self.fps
                        yield Frame(image, self._now(), index)
                        index += 1
            capture.release()
            if self.stopped():
                break
            if gap_start is None:
                gap_start, gap_reason = self._now(), reason
                log.warning("%s: %s; reconnecting", self.description, reason)
                self._status("reconnecting", reason)
            failures += 1
            gave_up = None
            if self.max_reconnects is not None and failures > self.max_reconnects:
                gave_up = f"gave up after {self.max_reconnects} reconnects"
            elif self.give_up_after_s is not None and self.clock() - waiting_since >= self.give_up_after_s:
                gave_up = f"gave up after {self.give_up_after_s:g} s without frames"
            if gave_up:
                if index == 0:
                    raise SourceError(f"{self.description}: {gap_reason}; {gave_up}")
                self._close_gap(gap_start, None, f"{gap_reason}; {gave_up}")
                return
            self.sleep(min(self.backoff_s[0] * 2 ** (failures - 1), self.backoff_s[1]))
        if gap_start is not None:
            self._close_gap(gap_start, None, f"{gap_reason}; stopped")

    def _close_gap(self, started: datetime, ended: datetime | None, reason: str) -> None:
        gap = StreamGap(started, ended, reason)
        self.gaps.append(gap)
        span = f"{(ended - started).total_seconds():.1f} s" if ended else "until stopped"
        log.warning("%s: no frames from %s (%s): %s", self.description, started.isoformat(), span, reason)


def redact_url(url: str) -> str:
    """Hide credentials in a camera URL (rtsp://user:pass@host → rtsp://***@host)."""
    return re.sub(r"(://)[^/@]+@", r"\1***@", url)


def open_source(spec: str, *, fps: float, tz: ZoneInfo, start: datetime | None = None,
                stream_timeout_s: float | None = 30.0) -> FrameSource:
    """Pick the source kind from what ``spec`` names; a stream is given up after ``stream_timeout_s`` without frames."""
    if spec.lower().startswith(STREAM_SCHEMES):
        return StreamSource(spec, fps, tz, give_up_after_s=stream_timeout_s)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder")
    if path.is_dir():
        return StillsFolderSource(path, tz)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, tz)
    source = VideoFileSource(path, fps, start or datetime.now(tz))
    if start is not None:
        return source
    named = time_from_name(path.stem, tz)
    if named is not None:
        # The recorder wrote the first frame's time (its own clock, the one burned into the picture) in the name.
        source.start, source.start_origin = named, START_FROM_NAME
        log.info("%s: capture times count from %s (the time in the file name)", path, named)
        return source
    # A recorder closes the file when the recording ends, so its mtime marks the end of the clip; a copied file
    # has the copy's time instead: give --start (or the camera's recording_start) to be sure.
    duration = source.frame_count / source.native_fps if source.frame_count else 0.0
    source.start = datetime.fromtimestamp(path.stat().st_mtime, tz) - timedelta(seconds=duration)
    source.start_origin = START_FROM_FILE_TIME
    log.warning("%s: no start time given nor in the file name; capture times count from %s (file time minus "
                "duration), which may disagree with the camera's clock", path, source.start)
    return source
