"""Short evidence clips as VP8 WebM, the codec every browser plays and the pip OpenCV build can write."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np


class ClipError(RuntimeError):
    """The clip could not be written; no file is left under the requested name."""


def _output_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Fit within ``max_width`` keeping the aspect; even sides, since VP8's 4:2:0 chroma halves them."""
    if width > max_width:
        height = round(height * max_width / width)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def _bgr(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ClipError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ClipError(f"frames must be HxW or HxWx3, got shape {frame.shape}")


def write_webm(frames: Iterable[np.ndarray], path: Path, fps: float, max_width: int = 960) -> int:
    """Write ``frames`` to ``path`` and return how many were written.

    Frames go to a temporary ``.webm`` beside ``path`` (FFmpeg picks the container from the extension)
    and are moved into place only when complete, so a reader never sees a half-written clip.
    Every frame is resized to the first frame's output size: VideoWriter silently drops mismatched frames.
    """
    path = Path(path)
    if fps <= 0:
        raise ClipError(f"fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".partial.webm", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    writer: cv2.VideoWriter | None = None
    size = (0, 0)
    count = 0
    try:
        for frame in frames:
            frame = _bgr(frame)
            if writer is None:
                size = _output_size(frame.shape[1], frame.shape[0], max_width)
                writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"VP80"), float(fps), size)
                if not writer.isOpened():
                    raise ClipError(f"cannot open a VP8 WebM writer for {path} (OpenCV built without FFmpeg?)")
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            writer.write(frame)
            count += 1
        if writer is None:
            raise ClipError(f"no frames given for {path}")
        writer.release()
        writer = None
        if os.statvfs(tmp.parent).f_bavail == 0:  # FFmpeg does not report a failed write; a full disk shows here
            raise ClipError(f"{os.strerror(errno.ENOSPC)} while writing {path.name}")
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    return count
