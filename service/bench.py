"""`firelane bench`: how fast the detector alone runs, how fast the whole pipeline runs, and where time goes."""

from __future__ import annotations

import platform
import statistics
import resource
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from detector.backends import Detector
from detector.sources import FrameSource
from service.camera.pipeline import CameraPipeline
from service.camera.runner import run_camera
from service.settings import Settings
from zones.config import CameraZones

STAGES = ("decode", "gate", "detect", "track", "obstructions", "zones", "evidence", "plates", "checkpoint",
          "database")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _end_to_end(open_source, camera, detector, settings, gate) -> dict:
    with tempfile.TemporaryDirectory(prefix="firelane-bench-") as out:  # the detector as given: tiled or not
        report = run_camera(open_source(), camera, detector, settings, Path(out), progress=False,
                            gate_max_skip_s=gate, tiles="off")
    times = dict(report.times.seconds)
    # the database and the plate reader run inside the evidence stage: each is shown on its own
    times["evidence"] = times.get("evidence", 0.0) - times.get("database", 0.0) - times.get("plates", 0.0)
    per_frame_ms = {stage: round(1000 * times.get(stage, 0.0) / max(report.frames, 1), 2) for stage in STAGES}
    return {
        "frames": report.frames,
        "seconds": round(report.seconds, 2),
        "fps": round(report.fps, 2),
        "detector_calls": report.detector_calls,
        "violations": len(report.violations),
        "ms_per_frame_by_stage": per_frame_ms,
    }


def _shared_end_to_end(open_source, camera: CameraZones, detector: Detector, settings: Settings,
                       cameras: int) -> dict:
    """``cameras`` cameras as `firelane serve` runs them: a thread each (the whole path, gated, its own database
    and evidence), one model behind a lock. While one camera's frame is in the detector the others track, model
    the lane and write evidence, so the machine's throughput is the detector's, less what they take from it."""
    from service.camera.workers import SharedDetector

    shared = SharedDetector(detector)
    reports: list = []
    with tempfile.TemporaryDirectory(prefix="firelane-bench-") as out:
        def one_camera(index: int) -> None:
            folder = Path(out) / str(index)
            reports.append(run_camera(open_source(), replace(camera, camera_id=f"{camera.camera_id}-{index}"),
                                      shared, settings, folder, f"sqlite:///{folder / 'firelane.db'}",
                                      progress=False, gate_max_skip_s=5.0, tiles="off"))

        seconds = _concurrently(one_camera, cameras)
    frames = sum(r.frames for r in reports)
    return {"cameras": cameras, "frames": frames, "fps": round(frames / seconds, 2),
            "detector_calls": sum(r.detector_calls for r in reports)}


def _raw_fps(detector: Detector, frames: list, imgsz: int | None) -> float:
    started = time.perf_counter()
    for frame in frames:
        detector.detect(frame.image, imgsz=imgsz)
    return len(frames) / (time.perf_counter() - started)


def _concurrently(work: Callable[[int], None], count: int) -> float:
    """``work(0)`` … ``work(count - 1)`` on a thread each, at once; seconds until all ended (the first error is
    raised)."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 - raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def _serve_cameras(detect, frames: list, imgsz: int | None, cameras: int) -> float:
    """``cameras`` threads, each sending every frame once through ``detect`` at once; frames served per second."""

    def camera_loop(_: int) -> None:
        for frame in frames:
            detect(frame.image, imgsz=imgsz)

    return cameras * len(frames) / _concurrently(camera_loop, cameras)


def batching(detector: Detector, frames: list, imgsz: int | None, cameras: int = 8, max_batch: int = 8,
             max_wait_s: float = 0.05, repeat: int = 3) -> dict:
    """Many cameras on one model: one frame at a time behind a lock (`firelane serve` in one process) against
    dynamic batches (a cluster node's detector). The two alternate ``repeat`` times; medians."""
    from detector.batching import DynamicBatcher
    from service.camera.workers import SharedDetector

    locked, batcher = SharedDetector(detector), DynamicBatcher(detector, max_batch, max_wait_s)
    try:
        _serve_cameras(batcher.detect, frames[:1], imgsz, cameras)  # warm-up: a full batch's shape
        lock_runs, batch_runs = [], []
        for _ in range(max(1, repeat)):
            lock_runs.append(_serve_cameras(locked.detect, frames, imgsz, cameras))
            batch_runs.append(_serve_cameras(batcher.detect, frames, imgsz, cameras))
    finally:
        batcher.close()
    lock_fps, batch_fps = statistics.median(lock_runs), statistics.median(batch_runs)
    return {"cameras": cameras, "frames_per_camera": len(frames), "max_batch": max_batch,
            "max_wait_ms": round(max_wait_s * 1000), "mean_batch": round(batcher.stats.mean_batch, 2),
            "lock_fps": round(lock_fps, 2), "batched_fps": round(batch_fps, 2),
            "ratio_batched_to_lock": round(batch_fps / lock_fps, 3),
            "runs_fps": {"lock": [round(f, 2) for f in lock_runs], "batched": [round(f, 2) for f in batch_runs]}}


def bench(open_source, camera: CameraZones, detector: Detector, settings: Settings, extra_cameras: int = 3,
          repeat: int = 3, batch: int = 8, model: Detector | None = None, shared_cameras: int = 2) -> dict:
    """``open_source`` makes a fresh ``FrameSource`` each call, so every measurement reads the same frames.

    Raw and end-to-end runs alternate ``repeat`` times and each figure is the median, so a slow spell of a shared
    machine does not land on one side of the ratio only. ``model``: the bare model under ``detector`` (zone tiles
    on), which is what batches across cameras. ``shared_cameras``: that many cameras run the whole path at once
    on the one model, as in `firelane serve` (0: not measured).
    """
    source: FrameSource = open_source()
    started = time.perf_counter()
    frames = list(source.frames())
    decode_s = time.perf_counter() - started
    if not frames:
        raise ValueError("the source gave no frames")

    detector.detect(frames[0].image, imgsz=camera.imgsz)  # warm-up: first call compiles / allocates
    raw_runs, every_runs, gated_runs, shared_runs = [], [], [], []
    for _ in range(max(1, repeat)):
        raw_runs.append(_raw_fps(detector, frames, camera.imgsz))
        every_runs.append(_end_to_end(open_source, camera, detector, settings, None))
        gated_runs.append(_end_to_end(open_source, camera, detector, settings, 5.0))
        if shared_cameras:
            shared_runs.append(_shared_end_to_end(open_source, camera, detector, settings, shared_cameras))
    raw_fps = statistics.median(raw_runs)
    every_frame = sorted(every_runs, key=lambda r: r["fps"])[len(every_runs) // 2]
    gated = sorted(gated_runs, key=lambda r: r["fps"])[len(gated_runs) // 2]
    shared = sorted(shared_runs, key=lambda r: r["fps"])[len(shared_runs) // 2] if shared_runs else None

    # Many cameras on one model: the lock against dynamic batches (first frames only: each camera sends them all)
    batched = batching(model or detector, frames[:16], camera.imgsz, cameras=batch, max_batch=batch, repeat=repeat)

    # Several cameras in one process share the loaded model; what does each extra one keep in memory (clip
    # ring, frames of resting objects, tracker)? Each camera gets its own copy of every frame, as it would live.
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    with tempfile.TemporaryDirectory(prefix="firelane-bench-") as out:
        pipelines = [
            CameraPipeline(camera, detector, Path(out) / str(i), [], "bench", sample_fps=source.sample_fps,
                           tiles="off")
            for i in range(extra_cameras)
        ]
        for frame in frames:
            for pipeline in pipelines:
                pipeline.process(replace(frame, image=frame.image.copy()))
        held = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.stop()
        for pipeline in pipelines:
            pipeline.finish()
    per_camera_mb = held / 2**20 / extra_cameras if extra_cameras else 0.0

    e2e_ms = 1000 / every_frame["fps"] if every_frame["fps"] else None
    gated_ms = 1000 / gated["fps"] if gated["fps"] else None
    return {
        "source": source.description,
        "detector": detector.name,
        "imgsz": camera.imgsz,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "frames": len(frames),
        "decode_ms_per_frame": round(1000 * decode_s / len(frames), 2),
        "repeat": max(1, repeat),
        "raw_detector": {"fps": round(raw_fps, 2), "ms_per_frame": round(1000 / raw_fps, 2),
                         "runs_fps": [round(f, 2) for f in raw_runs]},
        "end_to_end": {**every_frame, "runs_fps": [r["fps"] for r in every_runs]},
        "end_to_end_gated": gated,
        "ratio_end_to_end_to_raw": round(every_frame["fps"] / raw_fps, 3),
        "ratio_gated_to_raw": round(gated["fps"] / raw_fps, 3),
        "shared_model_gated": shared and {**shared, "runs_fps": [r["fps"] for r in shared_runs],
                                          "ratio_to_raw": round(shared["fps"] / raw_fps, 3)},
        "detector_calls_saved_by_gating": round(1 - gated["detector_calls"] / max(every_frame["detector_calls"], 1), 3),
        "cameras_at_1fps": {"every_frame": int(1000 // e2e_ms) if e2e_ms else None,
                            "gated": int(1000 // gated_ms) if gated_ms else None},
        "batching": batched,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "extra_cameras": extra_cameras,
        "rss_mb_per_extra_camera": round(per_camera_mb, 1),
    }
