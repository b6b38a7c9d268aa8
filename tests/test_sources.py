"""Capture: capture times, sampling, bad files and dead streams."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from detector.sources import (
    ImageSource,
    SourceError,
    StillsFolderSource,
    StreamSource,
    VideoFileSource,
    open_source,
    redact_url,
    time_from_name,
)

TZ = ZoneInfo("Asia/Shanghai")


def write_video(path, frames=50, fps=10.0, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 5) % 255, np.uint8))
    writer.release()


def test_time_from_pklot_style_names():
    assert time_from_name("2013-04-15_07_15_01", TZ) == datetime(2013, 4, 15, 7, 15, 1, tzinfo=TZ)
    assert time_from_name("cam3_2026-11-02 09-00-05", TZ) == datetime(2026, 11, 2, 9, 0, 5, tzinfo=TZ)
    assert time_from_name("snapshot", TZ) is None
    assert time_from_name("2013-13-45_07_15_01", TZ) is None


def test_time_from_recorder_export_names():
    """Hikvision and Dahua exports write the first frame's time compactly; serial numbers are no times."""
    first = datetime(2026, 12, 2, 8, 30, 0, tzinfo=TZ)
    for name in ("ch01_20261202083000", "gate_20261202T083000_20261202T090000", "20261202_083000",
                 "NVR-7 20261202-083000 east"):
        assert time_from_name(name, TZ) == first, name
    assert time_from_name("cam_99991399887766_20261202083000", TZ) == first  # 14 digits that are no date: skipped
    assert time_from_name("serial123456789012345", TZ) is None  # digits run on: not a stamp
    assert time_from_name("clip_20261202", TZ) is None  # a day without a time of day


def test_stills_are_ordered_by_capture_time_and_bad_ones_skipped(tmp_path):
    image = np.zeros((20, 30, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "2013-02-22_07_15_01.png"), image)
    cv2.imwrite(str(tmp_path / "2013-02-22_06_25_00.jpg"), image)
    (tmp_path / "2013-02-22_06_55_00.png").write_bytes(b"not an image")
    undated = tmp_path / "undated.png"
    cv2.imwrite(str(undated), image)
    os.utime(undated, (1_700_000_000, 1_700_000_000))
    source = StillsFolderSource(tmp_path, TZ)
    frames = list(source.frames())
    assert [f.captured_at for f in frames] == [
        datetime(2013, 2, 22, 6, 25, 0, tzinfo=TZ),
        datetime(2013, 2, 22, 7, 15, 1, tzinfo=TZ),
        datetime.fromtimestamp(1_700_000_000, TZ),
    ]
    assert [f.index for f in frames] == [0, 1, 2]
    assert source.skipped == ["2013-02-22_06_55_00.png"]


def test_empty_folder_and_missing_path_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        StillsFolderSource(tmp_path, TZ)
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "nope.mp4"), fps=2, tz=TZ)


def test_video_is_sampled_at_the_requested_rate_with_capture_times(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, frames=50, fps=10.0)
    start = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
    source = VideoFileSource(path, fps=2.0, start=start)
    frames = list(source.frames())
    assert source.sample_fps == pytest.approx(2.0)
    assert len(frames) == 10 and source.expected_frames in (10, 11)
    assert [f.captured_at for f in frames[:3]] == [start + timedelta(seconds=s) for s in (0, 0.5, 1.0)]


def test_video_start_defaults_to_file_time_minus_duration(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, frames=50, fps=10.0)
    os.utime(path, (1_800_000_000, 1_800_000_000))
    source = open_source(str(path), fps=2, tz=TZ)
    assert source.start == datetime.fromtimestamp(1_800_000_000 - 5, TZ)
    assert source.start_origin == "file time"


def test_video_start_from_the_file_name_then_from_what_is_given(tmp_path):
    """The camera's burned-in clock is what the recorder writes in the name: it wins over the file's mtime
    (a copied file has the copy's time); a start given explicitly wins over both."""
    path = tmp_path / "ch01_20261202T083000.avi"
    write_video(path, frames=50, fps=10.0)
    os.utime(path, (1_800_000_000, 1_800_000_000))
    source = open_source(str(path), fps=2, tz=TZ)
    named = datetime(2026, 12, 2, 8, 30, tzinfo=TZ)
    assert (source.start, source.start_origin) == (named, "file name")
    assert [f.captured_at for f in list(source.frames())[:2]] == [named, named + timedelta(seconds=0.5)]
    given = datetime(2026, 12, 2, 8, 29, 57, tzinfo=TZ)
    source = open_source(str(path), fps=2, tz=TZ, start=given)
    assert (source.start, source.start_origin) == (given, "given")


def test_corrupt_video_and_image_are_refused(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(SourceError, match="not a decodable video"):
        open_source(str(bad), fps=2, tz=TZ)
    bad_image = tmp_path / "broken.jpg"
    bad_image.write_bytes(b"\xff\xd8garbage")
    with pytest.raises(SourceError, match="not a readable image"):
        list(ImageSource(bad_image, TZ).frames())


class FakeCapture:
    def __init__(self, frames: int):
        self.left = frames

    def isOpened(self):
        return self.left >= 0

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((4, 4, 3), np.uint8)

    def release(self):
        pass


def test_stream_that_drops_is_reopened_with_backoff_and_the_gap_reported():
    clock = [1000.0]
    sleeps: list[float] = []
    plan = iter([FakeCapture(3), FakeCapture(-1), FakeCapture(-1), FakeCapture(2)])

    def opener(url):
        return next(plan, FakeCapture(-1))

    def tick():
        clock[0] += 1.0
        return clock[0]

    def sleep(seconds):
        sleeps.append(seconds)
        clock[0] += seconds

    source = StreamSource("rtsp://admin:secret@10.0.0.9/ch1", fps=1.0, tz=TZ, max_reconnects=3,
                          opener=opener, clock=tick, sleep=sleep)
    frames = list(source.frames())
    assert len(frames) == 5
    assert sleeps[:3] == [1.0, 2.0, 4.0]  # back-off doubles
    assert source.gaps[0].ended_at is not None and "stopped delivering" in source.gaps[0].reason
    assert "gave up after 3 reconnects" in source.gaps[-1].reason
    assert "secret" not in source.description


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    return f"http://127.0.0.1:{port}/cam.mjpg"


def test_dead_stream_url_gives_up_after_retries_with_a_source_error():
    source = StreamSource(_dead_url(), fps=1.0, tz=TZ, max_reconnects=1, backoff_s=(0.01, 0.01))
    with pytest.raises(SourceError, match="could not open stream; gave up after 1 reconnects"):
        list(source.frames())


def test_dead_stream_gives_up_after_the_configured_wait_and_reports_reconnecting():
    statuses = []
    source = StreamSource(_dead_url(), fps=1.0, tz=TZ, give_up_after_s=0.3, backoff_s=(0.05, 0.05),
                          on_status=lambda state, reason: statuses.append((state, reason)))
    started = time.monotonic()
    with pytest.raises(SourceError, match="gave up after 0.3 s without frames"):
        list(source.frames())
    assert time.monotonic() - started < 5
    assert statuses == [("reconnecting", "could not open stream")], "said once, the moment frames stopped"


def test_a_stopped_worker_ends_a_reconnecting_stream():
    stop_after = time.monotonic() + 0.3
    source = StreamSource(_dead_url(), fps=1.0, tz=TZ, backoff_s=(0.05, 0.05),
                          stopped=lambda: time.monotonic() > stop_after)
    assert list(source.frames()) == []
    assert "stopped" in source.gaps[-1].reason


def test_redact_url():
    assert redact_url("rtsp://user:pa:ss@cam.local:554/s") == "rtsp://***@cam.local:554/s"
    assert redact_url("http://cam/x") == "http://cam/x"
