"""Where the weekly reports live, so that any API process lists and serves what any other one (or the leader's
weekly job) wrote.

- Evidence in object storage (``FIRELANE_EVIDENCE_URL=s3://bucket/prefix``): under ``<prefix>/_reports/`` in the
  same bucket, with the same client and credentials. Nothing else is to set up, an operator who scoped access to the
  prefix has granted it already, and the key can never be a camera's evidence: camera ids begin with a letter or a
  digit, and ``firelane verify`` and sealing pass over ``_``-folders (as over ``_snapshots/``).
- Otherwise the local folder ``<out_dir>/reports`` as before (``firelane report --out DIR``: that folder).

Both hold ``<week>/<name>``, where the week matches ``WEEK_NAME`` and the name ``REPORT_NAME``, and
``<week>/owners.json``: file name → the id of the site it is about (null: the district), recorded when written, so
a renamed or reused site code never hands a report to another site's staff. On disk no link is ever followed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from service.evidence_store import EvidenceMissing, S3EvidenceStore, evidence_store
from service.settings import Settings

WEEK_NAME = re.compile(r"^\d{4}-W\d{2}$")
REPORT_NAME = re.compile(r"^(district|site-[A-Za-z0-9][A-Za-z0-9_.-]{0,63})\.(html|pdf)$")
OWNERS = "owners.json"
REPORTS_FOLDER = "_reports"  # under the evidence prefix in object storage
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class ReportMissing(FileNotFoundError):
    """No such report (or one that is not a plain file in its week's folder)."""


@dataclass(frozen=True)
class StoredReport:
    week: str
    name: str
    size: int
    modified_at: datetime


def _checked(week: str, name: str | None = None) -> str:
    """``<week>`` or ``<week>/<name>`` when the week is ``YYYY-Www`` and the name a report's or ``owners.json``;
    else ``ValueError`` (nothing else is ever looked up)."""
    if not WEEK_NAME.fullmatch(week) or (name is not None and name != OWNERS and not REPORT_NAME.fullmatch(name)):
        raise ValueError(f"not a weekly report: {week}/{name or ''}")
    return week if name is None else f"{week}/{name}"


def _is_report(week: str, name: str) -> bool:
    return bool(WEEK_NAME.fullmatch(week) and REPORT_NAME.fullmatch(name))


def _owners(data: bytes) -> dict[str, int | None]:
    try:
        return {str(k): v for k, v in json.loads(data).items()}
    except (ValueError, AttributeError):
        return {}


class ReportStore(Protocol):
    url: str  # where it is, for people

    def weeks(self) -> list[str]:
        """The weeks with a folder, newest first."""

    def reports(self, week: str) -> list[StoredReport]:
        """The week's report files (names matching ``REPORT_NAME``), by name."""

    def file(self, week: str, name: str) -> Path | bytes:
        """A report: its file on disk (served with range requests) or its bytes; ``ReportMissing`` if not there
        or not a week and report name."""

    def put(self, week: str, name: str, data: bytes) -> None:
        """Replace a report (or ``owners.json``) whole: a reader never sees half of one."""

    def owners(self, week: str) -> dict[str, int | None]:
        """Which site each report of the week is about, by site id (None: the district); {} when unknown."""

    def location(self, week: str, name: str | None = None) -> str:
        """Where a person finds the week's folder or a report."""


class LocalReportStore:
    """Reports in a folder; the week folders, the reports and ``owners.json`` are never reached through a link."""

    def __init__(self, root: Path):
        self.root = Path(root).expanduser()
        self.url = str(self.root)

    def _folder(self, week: str) -> Path | None:
        folder = self.root / _checked(week)
        if not folder.is_dir() or folder.is_symlink() or folder.resolve().parent != self.root.resolve():
            return None
        return folder

    def _plain_file(self, week: str, name: str) -> Path | None:
        folder = self._folder(week)
        path = folder / name if folder is not None else None
        return path if path is not None and not path.is_symlink() and path.is_file() else None

    def weeks(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if WEEK_NAME.fullmatch(p.name) and self._folder(p.name)),
                      reverse=True)

    def reports(self, week: str) -> list[StoredReport]:
        folder = self._folder(week)
        if folder is None:
            return []
        found = []
        for path in sorted(folder.iterdir()):
            if REPORT_NAME.fullmatch(path.name) and not path.is_symlink() and path.is_file():
                stat = path.stat()
                found.append(StoredReport(week, path.name, stat.st_size,
                                          datetime.fromtimestamp(stat.st_mtime, timezone.utc)))
        return found

    def file(self, week: str, name: str) -> Path | bytes:
        path = self._plain_file(week, name) if _is_report(week, name) else None
        if path is None:
            raise ReportMissing(f"no report {week}/{name}")
        return path

    def put(self, week: str, name: str, data: bytes) -> None:
        path = self.root / _checked(week, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # as an ordinary file would be, not mkstemp's 0600
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def owners(self, week: str) -> dict[str, int | None]:
        path = self._plain_file(week, OWNERS)
        try:
            return _owners(path.read_bytes()) if path is not None else {}
        except OSError:
            return {}

    def location(self, week: str, name: str | None = None) -> str:
        return str(self.root / _checked(week, name))


class S3ReportStore:
    """Reports as objects ``<week>/<name>`` of an object-storage prefix (``<evidence prefix>/_reports``)."""

    def __init__(self, store: S3EvidenceStore):
        self.store = store
        self.url = store.url

    def weeks(self) -> list[str]:
        return sorted((w for w in self.store.folders() if WEEK_NAME.fullmatch(w)), reverse=True)

    def reports(self, week: str) -> list[StoredReport]:
        folder = _checked(week)
        found = []
        for stored in self.store.objects(folder):
            name = stored.key[len(folder) + 1:]
            if REPORT_NAME.fullmatch(name):  # a name with a "/" (a deeper key) never matches
                found.append(StoredReport(week, name, stored.size, stored.modified_at.astimezone(timezone.utc)))
        return found

    def file(self, week: str, name: str) -> Path | bytes:
        if not _is_report(week, name):
            raise ReportMissing(f"no report {week}/{name}")
        try:
            return self.store.read(_checked(week, name))
        except EvidenceMissing:
            raise ReportMissing(f"no report {week}/{name}") from None

    def put(self, week: str, name: str, data: bytes) -> None:
        self.store.put(_checked(week, name), data)

    def owners(self, week: str) -> dict[str, int | None]:
        try:
            return _owners(self.store.read(_checked(week, OWNERS)))
        except EvidenceMissing:
            return {}

    def location(self, week: str, name: str | None = None) -> str:
        return self.store.location(_checked(week, name))


def report_store(settings: Settings) -> ReportStore:
    """The installation's reports: beside the evidence when that is in object storage (every API process on any
    machine sees the same), else ``settings.reports_dir``."""
    if settings.evidence_url:
        store = evidence_store(settings)
        if isinstance(store, S3EvidenceStore):
            return S3ReportStore(store.under(REPORTS_FOLDER))
    return LocalReportStore(settings.reports_dir)
