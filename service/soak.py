"""`firelane soak`: many violations through one long-running camera pipeline, to show memory stays flat.

A staged scene stands in for the detector (objects arrive, rest past the grace time and leave, one after another),
so the figure measures what the pipeline keeps per violation, not what a model allocates. Everything else is real:
full-size frames, evidence files with overlays and clips, the spool and the SQLite database, checkpoints.
"""

from __future__ import annotations

import gc
import resource
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from detector.detections import Detections
from detector.sources import Frame
from service.camera.pipeline import CameraPipeline
from service.camera.spool import Spool
from service.camera.store import DatabaseStore
from zones.config import parse_zones

FPS = 2.0
GRACE_S, LEAVE_S, STAY_S, EMPTY_S = 10.0, 3.0, 14.0, 5.0  # one violation every STAY_S + EMPTY_S seconds


class StagedScene:
    """A detector stand-in: one car at a time, at a place that shifts with each visit."""

    name = "staged-scene"
    class_names = ["car"]

    def __init__(self) -> None:
        self.box: tuple[float, float, float, float] | None = None

    def detect(self, image: np.ndarray, imgsz: int | None = None) -> Detections:
        return Detections([self.box], [0.9], ["car"], ["vehicle"]) if self.box else Detections.empty()


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:  # current resident set (ru_maxrss is only the peak)
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def soak(violations: int = 120, size: tuple[int, int] = (1280, 720), warmup: int = 10) -> dict:
    """Run ``violations`` violations; memory per violation is measured after the first ``warmup``."""
    width, height = size
    camera = parse_zones({"camera_id": "soak", "frame_size": [width, height], "zones": [
        {"id": "lane", "polygon": [[0, height * 0.4], [width, height * 0.4], [width, height], [0, height]],
         "grace_s": GRACE_S, "leave_s": LEAVE_S}]})
    scene = StagedScene()
    rng = np.random.default_rng(7)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory(prefix="firelane-soak-") as out:
        store = DatabaseStore(f"sqlite:///{out}/soak.db", spool=Spool(Path(out) / "spool"))
        pipeline = CameraPipeline(camera, scene, Path(out) / "evidence", [store], "soak", sample_fps=FPS,
                                  gate_max_skip_s=None, state_store=store, keep_settled=False)
        cycle = int((STAY_S + EMPTY_S) * FPS)
        samples: list[tuple[int, float, float]] = []
        frame_index, started = 0, time.perf_counter()
        tracemalloc.start()
        for visit in range(violations):
            x = float(rng.integers(0, width - 300))
            for step in range(cycle):
                scene.box = (x, height * 0.55, x + 280, height * 0.95) if step < STAY_S * FPS else None
                image = np.full((height, width, 3), 40 + (frame_index % 50), np.uint8)  # every frame its own
                pipeline.process(Frame(image, start + timedelta(seconds=frame_index / FPS), frame_index))
                frame_index += 1
            if visit + 1 >= warmup:
                gc.collect()
                samples.append((visit + 1, tracemalloc.get_traced_memory()[0] / 2**20, _rss_mib()))
        tracemalloc.stop()
        recorded = len(list((Path(out) / "evidence" / "soak").glob("*-lane-*")))
        store.close()
    (first_n, first_py, first_rss), (last_n, last_py, last_rss) = samples[0], samples[-1]
    span = last_n - first_n
    return {
        "violations": recorded,
        "frames": frame_index,
        "frame_size": list(size),
        "seconds": round(time.perf_counter() - started, 1),
        "python_heap_mib": {"after_warmup": round(first_py, 2), "at_end": round(last_py, 2)},
        "rss_mib": {"after_warmup": round(first_rss, 1), "at_end": round(last_rss, 1)},
        "python_heap_kib_per_violation": round((last_py - first_py) * 1024 / span, 2) if span else None,
        "rss_kib_per_violation": round((last_rss - first_rss) * 1024 / span, 2) if span else None,
    }
