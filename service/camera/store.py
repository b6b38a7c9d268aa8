"""Where violations and camera checkpoints go: the local spool first, then the database; and violations.jsonl.

``DatabaseStore`` writes every violation save and every checkpoint to the camera's spool (on disk, fsynced) and
then drains the spool into the database: at once (``inline``, as `firelane run` wants), or from another thread
(`firelane serve`'s supervisor), so that a camera never waits on a database that hangs. When the database is unreachable the entries wait, in order, and the
camera goes on; they reach the database once it answers again (``flush``, also called by the server's background
flusher). When the spool itself cannot be written (a full or read-only disk) the entry goes to the database
directly, so the violation's facts still arrive; only if both fail is the save an error.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from service.camera.pipeline import ViolationRecord
from service.camera.spool import RetryLater, Spool, SpoolEntry
from service.db import camera_states
from service.db.alerts import enqueue_violation_alert
from service.db.errors import is_unreachable
from service.db.models import Violation
from service.db.session import make_engine, session_factory, upgrade
from service.evidence import MANIFEST, SIGNATURE
from service.db.violations import replace_evidence, upsert_violation

log = logging.getLogger(__name__)
_VIOLATION_TIMES = ("started_at", "violation_at", "ended_at", "last_seen_at")
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _superseded(fields: dict[str, Any], row: Violation) -> bool:
    """A save older than the row: an ended violation never reopens, and one in the same state (open, or ended)
    never goes back to an earlier sighting. An ending always lands on an open row, whatever it saw last."""
    ended, known_ended = fields["ended_at"] is not None, row.ended_at is not None
    if ended != known_ended:
        return known_ended
    seen, known = _utc(fields["last_seen_at"]), _utc(row.last_seen_at)
    return seen is not None and known is not None and seen < known


class StoreError(RuntimeError):
    """A save that reached neither the spool nor the database: it is lost unless the caller keeps it."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be asked right now (a camera must not guess its state without it)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def violation_entry(record: ViolationRecord) -> dict[str, Any]:
    """A violation save as JSON: its row and its evidence files, complete (a later save replaces it whole)."""
    fields = record.db_fields()
    for key in _VIOLATION_TIMES:
        fields[key] = _iso(fields[key])
    files = [f.to_json() for f in record.evidence.files.values()]
    if record.evidence.manifest_sha256 and record.evidence.manifest_bytes:  # listed too: reviewers fetch it alone
        files.append({"name": MANIFEST, "role": "manifest", "media_type": "application/json",
                      "sha256": record.evidence.manifest_sha256, "bytes": record.evidence.manifest_bytes,
                      "captured_at": None})
        evidence = record.evidence
        if evidence.signer is not None and evidence.signature_sha256 and evidence.signature_bytes:
            files.append({"name": SIGNATURE, "role": "signature", "media_type": "application/json",
                          "sha256": evidence.signature_sha256, "bytes": evidence.signature_bytes,
                          "captured_at": None})
    return {"fields": fields, "files": files}


class DatabaseStore:
    """Violation saves and checkpoints of one camera (or of a run), through its spool to the database."""

    def __init__(self, url: str | None = None, engine: Engine | None = None, spool: Spool | None = None, *,
                 inline: bool = True, retry_s: tuple[float, float] = (0.5, 5.0),
                 clock: Callable[[], float] = time.monotonic):
        if engine is None:
            if url is None:
                raise ValueError("DatabaseStore needs a URL or an engine")
            engine = make_engine(url)
            upgrade(engine)
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        self.sessions = session_factory(self.engine)
        self.spool = spool
        self.inline = inline
        self._status: tuple | None = None  # latest health not yet written (camera_states.set_status's arguments)
        self._retry_s = retry_s
        self._delay = retry_s[0]
        self._retry_at = 0.0
        self._clock = clock
        self.unreachable_since: float | None = None

    # --- writes ---

    def save(self, record: ViolationRecord, final: bool) -> None:
        self._keep("violation", record.id, violation_entry(record))

    def save_checkpoint(self, camera_id: str, state: dict[str, Any], capture_at: datetime | None) -> None:
        self._keep("checkpoint", camera_id, {"camera_id": camera_id, "state": state, "capture_at": _iso(capture_at),
                                             "saved_at": datetime.now(timezone.utc).isoformat(), "owner": OWNER})

    def set_status(self, camera_id: str, status: str, detail: str | None, last_frame_at: datetime | None = None,
                   zones: list[dict[str, Any]] | None = None, publishes_zone_states: bool = False) -> None:
        """Camera health (and what the UI shows of it) for every process to read; only the latest is kept, written
        with the next flush."""
        self._status = (camera_id, status, detail, datetime.now(timezone.utc), last_frame_at, zones,
                        publishes_zone_states)
        if self.inline:
            self._write_status()

    def _write_status(self) -> None:
        pending = self._status
        if pending is None or self._clock() < self._retry_at:
            return
        try:
            with self.sessions.begin() as session:
                camera_states.set_status(session, *pending)
        except Exception as error:  # noqa: BLE001 - health is not evidence: written next time
            if not is_unreachable(error):
                raise
            self._backoff(error)
            return
        if self._status is pending:
            self._status = None

    def _keep(self, kind: str, key: str, payload: dict[str, Any]) -> None:
        if self.spool is None:
            self._apply(kind, payload)
            return
        try:
            self.spool.append(kind, key, payload)
        except OSError as error:
            log.error("spool %s not writable (%s): writing %s %s to the database directly", self.spool.folder,
                      error.strerror or error, kind, key)
            try:
                self._apply(kind, payload)
            except Exception as db_error:
                raise StoreError(f"{kind} {key} reached neither the spool ({error.strerror or error}) nor the "
                                 f"database ({type(db_error).__name__}: {db_error})") from db_error
            return
        if self.inline:
            self.flush(wait=False)

    def flush(self, force: bool = False, wait: bool = True) -> int:
        """Drain the spool into the database now, unless it failed a moment ago (then wait for the back-off).
        ``wait`` False: skip when another thread is draining it already."""
        if self.spool is None or (not force and self._clock() < self._retry_at):
            return 0
        applied = self.spool.drain(self._apply_entry, wait=wait)
        if self.unreachable_since is None:
            self._delay = self._retry_s[0]
            self._write_status()
        return applied

    @property
    def pending(self) -> int:
        return len(self.spool.pending()) if self.spool is not None else 0

    def _apply_entry(self, entry: SpoolEntry) -> None:
        try:
            self._apply(entry.kind, entry.payload)
        except Exception as error:
            if is_unreachable(error):
                self._backoff(error)
                raise RetryLater from error
            raise
        if self.unreachable_since is not None:
            log.warning("database reachable again after %.1f s; writing what waited in the spool",
                        self._clock() - self.unreachable_since)
            self.unreachable_since = None

    def _backoff(self, error: BaseException) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = self._clock()
            log.error("database unreachable (%s); violations wait in the spool", str(error).splitlines()[0][:200])
        self._retry_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, self._retry_s[1])

    def _apply(self, kind: str, payload: dict[str, Any]) -> None:
        with self.sessions.begin() as session:
            if kind == "violation":
                fields = dict(payload["fields"])
                for key in _VIOLATION_TIMES:
                    fields[key] = _time(fields[key])
                known = session.get(Violation, fields["id"])
                if known is not None and _superseded(fields, known):
                    log.warning("violation %s: an older save arrived late (from a node its camera left); kept the "
                                "newer state", fields["id"][:8])
                    return
                files = [{**f, "captured_at": _time(f["captured_at"])} for f in payload["files"]]
                violation = upsert_violation(session, fields)
                replace_evidence(session, fields["id"], files)
                enqueue_violation_alert(session, violation)  # idempotent: only the first save adds rows
            elif kind == "checkpoint":
                camera_states.save_checkpoint(session, payload["camera_id"], payload["state"],
                                              _time(payload["capture_at"]), _time(payload["saved_at"]),
                                              payload["owner"])
            else:
                raise ValueError(f"unknown spool entry kind {kind!r}")

    # --- reads ---

    def load_checkpoint(self, camera_id: str) -> dict[str, Any] | None:
        """The newest checkpoint of the camera, from the spool (not yet in the database) or the database.

        Raises ``DatabaseUnavailable`` when the database cannot be asked and the spool has none: starting from
        nothing then would open a second violation for an object already in violation.
        """
        waiting = self.spool.latest("checkpoint", camera_id) if self.spool is not None else None
        if waiting is not None:
            return waiting.payload["state"]
        try:
            with self.sessions() as session:
                row = camera_states.load_checkpoint(session, camera_id)
                return dict(row.state) if row is not None else None
        except Exception as error:
            if is_unreachable(error):
                raise DatabaseUnavailable(f"cannot read the state of camera {camera_id}: {error}") from error
            raise

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


class JsonlStore:
    """One JSON object per violation, written once it is settled (ended, or still going when the run stopped)."""

    def __init__(self, path: Path):
        self.path = path
        self.error: OSError | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")  # a run's file describes that run

    def save(self, record: ViolationRecord, final: bool) -> None:
        if not final:
            return
        evidence = record.evidence
        line = {
            **record.facts(),
            "evidence": {
                "dir": evidence.location,
                "manifest": evidence.store.location(evidence.key(MANIFEST)),
                "manifest_sha256": evidence.manifest_sha256,
                "files": [f.to_json() for f in sorted(evidence.files.values(), key=lambda f: f.name)],
            },
        }
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as error:  # a full disk: the database still has it; the run reports the failure
            self.error = self.error or error
            log.error("%s: cannot append violation %s: %s", self.path, record.id, error.strerror or error)
