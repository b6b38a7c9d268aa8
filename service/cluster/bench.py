"""`firelane bench --ray ADDRESS`: how many 1-fps cameras a cluster's nodes detect for, on 1, 2 … N of its nodes,
with each node's detector in dynamic batches against one frame at a time (batches of one: the thread-and-lock
path of a single process).

Each node gets a detector actor and a load actor pinned to it; the load actor plays ``cameras`` cameras that each
send the next frame as soon as the last one is answered, through Ray as a camera actor would (each frame crosses
the object store), for ``seconds``. Frames answered per second = cameras the node(s) serve at 1 fps, detection
being the stage that bounds a camera (see BENCHMARKS.md, time per stage). Scaling efficiency of k nodes =
their frames/s ÷ (k × one node's).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from service.cluster.actors import NodeDetector, connect
from service.settings import Settings


@ray.remote(num_cpus=0)
class _CameraLoad:
    def __init__(self, detector, frames: list[np.ndarray], imgsz: int | None):
        self.detector, self.frames, self.imgsz = detector, frames, imgsz

    def run(self, cameras: int, seconds: float) -> int:
        answered = [0] * cameras
        end = time.monotonic() + seconds

        def camera(i: int) -> None:
            while time.monotonic() < end:
                frame = self.frames[(i + answered[i]) % len(self.frames)]
                ray.get(self.detector.detect.remote(frame, self.imgsz))
                answered[i] += 1

        threads = [threading.Thread(target=camera, args=(i,), daemon=True) for i in range(cameras)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(answered)


def _pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def cluster_bench(address: str, settings: Settings, frames: list[np.ndarray], imgsz: int | None, *,
                  cameras_per_node: int = 8, seconds: float = 20.0, batch: int = 8) -> dict[str, Any]:
    connect(address)
    nodes = sorted((n for n in ray.nodes() if n["Alive"]), key=lambda n: n["NodeManagerAddress"])
    node_ids = [n["NodeID"] for n in nodes]
    runs: dict[str, list[dict[str, Any]]] = {}
    node_settings = settings.model_copy(update={"detector_batch": batch})
    detectors = [NodeDetector.options(scheduling_strategy=_pinned(n)).remote(node_settings) for n in node_ids]
    loads = [_CameraLoad.options(scheduling_strategy=_pinned(n)).remote(d, frames, imgsz)
             for n, d in zip(node_ids, detectors, strict=True)]
    try:
        ray.get([load.run.remote(cameras_per_node, 5.0) for load in loads])  # models loaded, batch shapes compiled
        for mode, max_batch in (("one_at_a_time", 1), ("batched", batch)):
            ray.get([d.set_max_batch.remote(max_batch) for d in detectors])
            runs[mode] = []
            for count in range(1, len(loads) + 1):
                before = ray.get([d.stats.remote() for d in detectors[:count]])
                answered = ray.get([load.run.remote(cameras_per_node, seconds) for load in loads[:count]])
                after = ray.get([d.stats.remote() for d in detectors[:count]])
                batches = sum(a["batches"] - b["batches"] for a, b in zip(after, before, strict=True))
                runs[mode].append({"nodes": count, "fps": round(sum(answered) / seconds, 2),
                                   "mean_batch": round(sum(answered) / max(batches, 1), 2)})
    finally:
        for actor in (*loads, *detectors):
            ray.kill(actor)
    for results in runs.values():
        single = results[0]["fps"]
        for result in results:
            result["cameras_at_1fps"] = int(result["fps"])
            result["scaling_efficiency"] = round(result["fps"] / (result["nodes"] * single), 3) if single else None
    by_nodes = zip(runs["one_at_a_time"], runs["batched"], strict=True)
    return {"address": address, "nodes": [n["NodeManagerAddress"] for n in nodes], "cameras_per_node": cameras_per_node,
            "seconds": seconds, "max_batch": batch, "imgsz": imgsz, **runs,
            "ratio_batched_to_one_at_a_time": [round(b["fps"] / a["fps"], 3) if a["fps"] else None
                                               for a, b in by_nodes]}
