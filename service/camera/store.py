"""Where settled violations go: the database (live view, updated as they grow) and violations.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from service.db.alerts import enqueue_violation_alert
from service.db.session import make_engine, session_factory, upgrade
from service.db.violations import replace_evidence, upsert_violation
from service.camera.pipeline import ViolationRecord


class DatabaseStore:
    """Writes each violation when it starts and updates it as evidence is added and when it ends.

    The first write of a violation of a registered camera also creates its alert and outbox messages in the
    same transaction, so an alert exists exactly when its violation does, whatever crashes afterwards.
    """

    def __init__(self, url: str | None = None, engine: Engine | None = None):
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

    def save(self, record: ViolationRecord, final: bool) -> None:
        files = [
            {"name": f.name, "role": f.role, "media_type": f.media_type, "sha256": f.sha256, "bytes": f.bytes,
             "captured_at": f.captured_at}
            for f in record.evidence.files.values()
        ]
        manifest = record.evidence.folder / "manifest.json"
        if record.evidence.manifest_sha256 and manifest.exists():  # listed too, so reviewers can fetch it alone
            files.append({"name": manifest.name, "role": "manifest", "media_type": "application/json",
                          "sha256": record.evidence.manifest_sha256, "bytes": manifest.stat().st_size,
                          "captured_at": None})
        with self.sessions.begin() as session:
            violation = upsert_violation(session, record.db_fields())
            replace_evidence(session, record.id, files)
            enqueue_violation_alert(session, violation)  # idempotent: only the first save adds rows

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


class JsonlStore:
    """One JSON object per violation, written once it is settled (ended, or still going when the run stopped)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")  # a run's file describes that run

    def save(self, record: ViolationRecord, final: bool) -> None:
        if not final:
            return
        evidence = record.evidence
        line = {
            **record.facts(),
            "evidence": {
                "dir": str(evidence.folder),
                "manifest": str(evidence.folder / "manifest.json"),
                "manifest_sha256": evidence.manifest_sha256,
                "files": [f.to_json() for f in sorted(evidence.files.values(), key=lambda f: f.name)],
            },
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
