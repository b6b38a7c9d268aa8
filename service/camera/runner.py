"""Run one source through one camera's pipeline to the end, with progress and a report."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue

from tqdm import tqdm

from detector.backends import Detector
from detector.sources import Frame, FrameSource, StreamGap
from detector.tiling import TileMode
from service.camera.pipeline import CameraPipeline, ViolationRecord
from service.camera.plates import plate_options
from service.camera.spool import Spool
from service.camera.store import DatabaseStore, JsonlStore
from service.evidence_store import evidence_store
from service.settings import Settings
from service.signing import ManifestSigner
from service.timing import StageTimes
from zones.config import CameraZones

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    frames: int
    seconds: float
    violations: list[ViolationRecord]
    out_dir: Path
    jsonl: Path
    database_url: str
    gaps: list[StreamGap] = field(default_factory=list)
    interrupted: bool = False
    times: StageTimes = field(default_factory=StageTimes)
    detector_calls: int = 0
    waiting_in_spool: int = 0  # saves the database has not taken yet (it was unreachable)
    spool_dir: Path | None = None
    output_problems: list[str] = field(default_factory=list)  # files that could not be written (disk full)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def prefetch(frames: Iterator[Frame], depth: int = 4) -> Iterator[Frame]:
    """Decode the next frames on a thread while the current one is detected (both release the GIL)."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        queue.put(frame, timeout=0.2)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as error:  # handed to the consumer, raised there
            queue.put(error)

    thread = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def run_camera(
    source: FrameSource,
    camera: CameraZones,
    detector: Detector,
    settings: Settings,
    out_dir: Path,
    database_url: str | None = None,
    progress: bool = True,
    gate_max_skip_s: float | None = 5.0,
    database_wait_s: float = 30.0,
    tiles: TileMode = "auto",
) -> RunReport:
    """Raises OSError when ``out_dir`` cannot be written at all; a disk that fills during the run is reported in
    ``output_problems`` while the violations' facts still reach the database."""
    out_dir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or settings.database_url_for(out_dir)
    jsonl = out_dir / "violations.jsonl"
    spool_dir = settings.spool_dir or out_dir / "spool"
    database = DatabaseStore(database_url, spool=Spool(spool_dir / camera.camera_id))
    database.flush(force=True)  # what an earlier run left waiting goes first
    jsonl_store = JsonlStore(jsonl)
    pipeline = CameraPipeline(
        camera=camera,
        detector=detector,
        evidence_root=evidence_store(settings) if settings.evidence_url else out_dir / "evidence",
        stores=[database, jsonl_store],
        source=source.description,
        sample_fps=source.sample_fps,
        clip_pre_s=settings.clip_pre_s,
        clip_post_s=settings.clip_post_s,
        font_path=settings.font,
        gate_max_skip_s=gate_max_skip_s,
        tiles=tiles,
        signer=ManifestSigner.load_or_create(settings.signing_key_file or out_dir / "signing_key.pem"),
        **plate_options(settings),
    )
    frames, interrupted = 0, False
    started = time.perf_counter()
    bar = tqdm(total=source.expected_frames, unit="frame", disable=not progress, mininterval=1.0, dynamic_ncols=True)
    last_at = None
    frames_iter = prefetch(source.frames())
    try:
        while True:
            waited = time.perf_counter()
            frame = next(frames_iter, None)
            pipeline.times.add("decode", time.perf_counter() - waited)
            if frame is None:
                break
            if last_at is not None and frame.captured_at < last_at:
                log.warning("frame %d: capture time %s is earlier than the previous frame; skipped",
                            frame.index, frame.captured_at.isoformat())
                continue
            last_at = frame.captured_at
            pipeline.process(frame)
            frames += 1
            bar.update(1)
            bar.set_postfix(violations=len(pipeline.violations), refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: settling the evidence of open violations")
    finally:
        bar.close()
        pipeline.finish()
        _wait_for_database(database, database_wait_s)
        database.close()
    problems = [f"{r.id[:8]}: {problem}" for r in pipeline.violations for problem in r.evidence.problems]
    if jsonl_store.error is not None:
        problems.append(f"{jsonl.name}: {jsonl_store.error.strerror or jsonl_store.error}")
    return RunReport(
        frames=frames,
        seconds=time.perf_counter() - started,
        violations=pipeline.violations,
        out_dir=out_dir,
        jsonl=jsonl,
        database_url=database_url,
        gaps=list(source.gaps),
        interrupted=interrupted,
        times=pipeline.times,
        detector_calls=pipeline.times.calls.get("detect", 0),
        waiting_in_spool=database.pending,
        spool_dir=database.spool.folder if database.spool else None,
        output_problems=problems,
    )


def _wait_for_database(database: DatabaseStore, wait_s: float) -> None:
    """Give an unreachable database ``wait_s`` to come back before the run ends with saves still spooled."""
    deadline = time.monotonic() + wait_s
    while True:
        database.flush(force=True)
        if database.pending == 0 or time.monotonic() >= deadline:
            return
        log.warning("database unreachable; %d save(s) wait in the spool (retrying for %.0f s more)",
                    database.pending, deadline - time.monotonic())
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
