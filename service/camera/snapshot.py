"""A camera's picture on demand: one frame from its source, in bounded time.

The zone editor needs a picture before the camera runs (a camera only runs once it has zones), and an operator
adding a camera wants to know at once whether its URL works. Camera workers refresh the same file while running.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detector.sources import STREAM_SCHEMES, SourceError, open_source, redact_url

_UTC = ZoneInfo("UTC")


def snapshot_file(out_dir: Path, camera_id: str) -> Path:
    """Where a camera's latest picture is kept (workers and on-demand grabs write the same file)."""
    return out_dir.expanduser() / "snapshots" / f"{camera_id}.jpg"


def _grab_stream(url: str, timeout_s: float) -> np.ndarray:
    milliseconds = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds, cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    try:
        if not capture.isOpened():
            raise SourceError(f"could not open {redact_url(url)} within {timeout_s:g} s")
        ok, image = capture.read()
        if not ok or image is None:
            raise SourceError(f"no frame from {redact_url(url)} within {timeout_s:g} s")
        return image
    finally:
        capture.release()


def _grab_file(spec: str) -> np.ndarray:
    # a fixed start: a recorded file's clock does not matter for a picture, and reading its mtime is skipped
    source = open_source(spec, fps=1.0, tz=_UTC, start=datetime(2000, 1, 1, tzinfo=_UTC))
    frame = next(iter(source.frames()), None)
    if frame is None:
        raise SourceError(f"{spec} gave no frame (not a video or image, or unreadable)")
    return frame.image


def grab_frame(source_url: str, timeout_s: float) -> np.ndarray:
    """One frame (BGR) from a stream, video file, image or folder of stills; SourceError when there is none in
    ``timeout_s``. The grab runs on its own thread, so a source that hangs past its own timeouts costs a thread
    until the decoder gives up, never the request."""
    stream = source_url.lower().startswith(STREAM_SCHEMES)
    result: dict[str, object] = {}

    def grab() -> None:
        try:
            result["image"] = _grab_stream(source_url, timeout_s) if stream else _grab_file(source_url)
        except (SourceError, OSError, cv2.error) as error:
            result["error"] = error

    thread = threading.Thread(target=grab, name="snapshot-grab", daemon=True)
    thread.start()
    thread.join(timeout_s * 2 + 1)  # opening and reading each have the timeout
    if "image" in result:
        return result["image"]  # type: ignore[return-value]
    error = result.get("error")
    if isinstance(error, SourceError):
        raise error
    if error is not None:
        raise SourceError(f"{redact_url(source_url)} gave no frame (not a video or image, or unreadable)")
    raise SourceError(f"no frame from {redact_url(source_url)} within {timeout_s:g} s")


def write_snapshot(path: Path, image: np.ndarray) -> None:
    """Written atomically (a reader never sees half a file); OSError when the disk refuses."""
    partial = path.with_suffix(".partial.jpg")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise OSError(f"could not encode the snapshot of {path.stem}")
        partial.write_bytes(data.tobytes())
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def take_snapshot(source_url: str, out_dir: Path, camera_id: str, timeout_s: float) -> tuple[int, int, datetime]:
    """Grab a frame and keep it as the camera's picture: (width, height, when)."""
    image = grab_frame(source_url, timeout_s)
    write_snapshot(snapshot_file(out_dir, camera_id), image)
    return image.shape[1], image.shape[0], datetime.now(timezone.utc)
