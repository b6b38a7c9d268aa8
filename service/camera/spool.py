"""A durable local spool: what a camera must not lose is on disk before anything else happens to it.

Each entry is one JSON file, written to a temporary name, fsynced and renamed (so a crash leaves either the whole
entry or none), named by a sequence number so it is applied in the order it was written. An entry is removed only
after the database transaction that applied it has committed; a crash between the two applies it once more, which
is harmless because every entry is an idempotent upsert (the violation row by its id, its alert and outbox rows by
their keys). So the database receives each entry in order, exactly once in effect, whenever it is reachable again.

Entries carry a ``kind`` and a ``key``: a later entry of the same kind and key holds the whole newer state (a
violation grown, a newer checkpoint), so older ones still waiting are dropped unapplied.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_SUFFIX = ".json"
_TEMP_PREFIX = ".partial-"


@dataclass(frozen=True)
class SpoolEntry:
    seq: int
    kind: str
    key: str
    payload: dict[str, Any]
    path: Path


class RetryLater(Exception):
    """Raised by an ``apply`` function when the database is unreachable: keep the entry, stop for now."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One folder of pending entries, written by one camera and drained by whoever reaches the database."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rejected = folder / "rejected"
        self._append_lock = threading.Lock()
        self._drain_lock = threading.Lock()  # separate: a camera appending never waits for a slow drain
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f"{_TEMP_PREFIX}*"):  # a crash mid-append: that entry was never acknowledged
            stale.unlink(missing_ok=True)
        self._next_seq = max((entry.seq for entry in self.pending()), default=0) + 1

    def append(self, kind: str, key: str, payload: dict[str, Any]) -> SpoolEntry:
        """Write one entry durably; raises OSError (disk full, read-only) when it could not be kept."""
        data = json.dumps({"kind": kind, "key": key, "payload": payload}, ensure_ascii=False).encode("utf-8")
        with self._append_lock:
            seq = self._next_seq
            path = self.folder / f"{seq:012d}{_SUFFIX}"
            temp = self.folder / f"{_TEMP_PREFIX}{path.name}"
            try:
                with temp.open("wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, path)
                _fsync_dir(self.folder)
            except OSError:
                temp.unlink(missing_ok=True)
                raise
            self._next_seq = seq + 1
        return SpoolEntry(seq, kind, key, payload, path)

    def pending(self) -> list[SpoolEntry]:
        """Entries not yet applied, oldest first (an unreadable one is moved aside, never silently dropped)."""
        entries = []
        for path in sorted(self.folder.glob(f"*{_SUFFIX}")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                entries.append(SpoolEntry(int(path.stem), raw["kind"], raw["key"], raw["payload"], path))
            except (OSError, ValueError, KeyError, TypeError) as error:
                self._reject(path, f"unreadable spool entry: {error}")
        return entries

    def latest(self, kind: str, key: str) -> SpoolEntry | None:
        found = [e for e in self.pending() if e.kind == kind and e.key == key]
        return found[-1] if found else None

    def drain(self, apply: Callable[[SpoolEntry], None], wait: bool = True) -> int:
        """Apply pending entries in order until one must wait (``RetryLater``); returns how many were applied.

        An entry ``apply`` refuses for any other reason (a bug, data the database rejects) is moved to
        ``rejected/`` with the reason, so one bad entry cannot hold up everything after it. With ``wait`` False
        it returns at once when another thread is draining (that thread takes the new entries too).
        """
        applied = 0
        if not self._drain_lock.acquire(blocking=wait):
            return 0
        try:
            entries = self.pending()
            newest = {(e.kind, e.key): e.seq for e in entries}
            for entry in entries:
                if newest[(entry.kind, entry.key)] != entry.seq:  # a newer state of the same thing follows
                    entry.path.unlink(missing_ok=True)
                    continue
                try:
                    apply(entry)
                except RetryLater:
                    break
                except Exception as error:  # noqa: BLE001 - kept aside with its reason, never lost
                    log.exception("spool entry %s (%s %s) rejected", entry.path.name, entry.kind, entry.key)
                    self._reject(entry.path, f"{type(error).__name__}: {error}")
                    continue
                entry.path.unlink(missing_ok=True)
                applied += 1
        finally:
            self._drain_lock.release()
        return applied

    def _reject(self, path: Path, reason: str) -> None:
        self.rejected.mkdir(exist_ok=True)
        try:
            os.replace(path, self.rejected / path.name)
            (self.rejected / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        except OSError:
            log.exception("could not move %s aside", path)
