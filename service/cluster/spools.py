"""A camera's spool on the node that runs it, held by one process at a time.

In a cluster the spool stays node-local (a database outage must not depend on a network disk), so the camera actor
drains it itself. The folder is locked (``flock``) for as long as a process holds it: a camera actor restarted on
the same node waits for the old one to be gone, and a folder left behind by a camera that moved away (its entries
the database had not taken yet) is drained by whichever camera actor of that node finds it unlocked. Each entry is
so applied by one process, in order, and removed after its transaction committed; the database ignores one that
arrives after a newer state of the same violation or checkpoint (``service.camera.store``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Collection
from pathlib import Path

from sqlalchemy import Engine

from service.camera.spool import Spool
from service.camera.store import DatabaseStore

log = logging.getLogger(__name__)
DEFAULT_NODE_DIR = Path("/var/tmp/firelane-node")
LOCK_NAME = ".lock"


def node_spool_root() -> Path:
    """This node's spool folder, from this node's own settings (the environment its ``ray start`` ran with)."""
    from service.settings import Settings

    return (Settings().node_dir or DEFAULT_NODE_DIR).expanduser().resolve() / "spool"


class SpoolLock:
    """An exclusive ``flock`` on a spool folder; the kernel releases it when its process dies, however it dies."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._fd: int | None = None

    def acquire(self, timeout_s: float = 0.0) -> bool:
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.2)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def drain_orphans(root: Path, engine: Engine, held: Collection[Path] = ()) -> int:
    """Drain the spool folders of this node that no process holds (cameras that moved to another node), but
    ``held``, the caller's own; returns how many entries were taken (applied, or ignored as older)."""
    applied = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p not in held) if root.is_dir() else []:
        lock = SpoolLock(folder)
        if not lock.acquire():
            continue
        try:
            spool = Spool(folder)
            if spool.pending():
                count = DatabaseStore(engine=engine, spool=spool, inline=False).flush(force=True)
                log.info("spool %s (a camera that moved away): %d entr%s written", folder, count,
                         "y" if count == 1 else "ies")
                applied += count
        finally:
            lock.release()
    return applied
