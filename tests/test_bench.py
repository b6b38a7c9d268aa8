"""The benchmark runs every measurement on the same frames and reports them all (speed itself is not tested)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detector.sources import VideoFileSource
from service.bench import STAGES, bench
from service.settings import Settings
from zones.config import parse_zones


def test_bench_reports_raw_end_to_end_stages_and_memory(tmp_path, ssd):
    path = tmp_path / "still.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (320, 240))
    for _ in range(40):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    camera = parse_zones({"camera_id": "c", "frame_size": [320, 240],
                          "zones": [{"id": "z", "polygon": [[0, 120], [320, 120], [320, 240], [0, 240]]}]})
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    result = bench(lambda: VideoFileSource(path, 2.0, start), camera, ssd, Settings(out_dir=tmp_path), extra_cameras=2,
                   repeat=1)
    assert result["frames"] == 20
    assert result["end_to_end"]["frames"] == result["end_to_end_gated"]["frames"] == 20
    assert result["end_to_end"]["detector_calls"] == 20
    # a still scene: the gate re-checks only every 5 s of capture time (10 frames at 2 fps)
    assert result["end_to_end_gated"]["detector_calls"] == 2
    assert result["detector_calls_saved_by_gating"] == 0.9
    assert set(result["end_to_end"]["ms_per_frame_by_stage"]) == set(STAGES)
    assert result["raw_detector"]["fps"] > 0 and result["ratio_end_to_end_to_raw"] > 0
    assert result["peak_rss_mb"] > 0 and result["cameras_at_1fps"]["every_frame"] >= 1
    batching = result["batching"]  # 8 cameras on one model: behind a lock, then in dynamic batches
    assert batching["cameras"] == 8 and batching["frames_per_camera"] == 16
    assert batching["lock_fps"] > 0 and batching["batched_fps"] > 0 and 1 <= batching["mean_batch"] <= 8
    shared = result["shared_model_gated"]  # two cameras at once on the one model, whole path, gated
    assert (shared["cameras"], shared["frames"], shared["detector_calls"]) == (2, 40, 4)
    assert shared["fps"] > 0 and shared["ratio_to_raw"] > 0
