"""Evidence files on disk: resolved strictly inside the violation's folder under the evidence root."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from service.db.errors import NotFoundError
from service.db.models import Violation

_STORED = {".jpg", ".jpeg", ".png", ".webm", ".mp4"}  # already compressed


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def evidence_folder(root: Path, violation: Violation) -> Path:
    """The violation's folder, resolved; it (and every symlink on the way) must stay under ``root``."""
    base = root.resolve()
    folder = (base / violation.evidence_dir).resolve()
    if not _inside(folder, base) or folder == base or not folder.is_dir():
        raise NotFoundError(f"the evidence of violation {violation.id!r} is not available")
    return folder


def evidence_file(root: Path, violation: Violation, name: str) -> Path:
    """A file named in the violation's evidence rows, resolved inside its folder; else ``NotFoundError``.

    Names not listed, names with path parts, and symlinks leading out of the folder all give the same
    answer, so nothing about the file system outside the folder can be learnt.
    """
    listed = {f.name for f in violation.evidence}
    missing = NotFoundError(f"violation {violation.id!r} has no evidence file {name!r}")
    if name not in listed or not name or name != Path(name).name or name in (".", ".."):
        raise missing
    folder = evidence_folder(root, violation)
    path = (folder / name).resolve()
    if not _inside(path, folder) or path == folder or not path.is_file():
        raise missing
    return path


def export_zip(root: Path, violation: Violation) -> IO[bytes]:
    """A ZIP of every regular file in the evidence folder (manifest.json included), rewound.

    Files are read from inside the folder only: symlinks out of it and hidden partial files are skipped.
    """
    folder = evidence_folder(root, violation)
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w") as archive:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path = Path(entry.path).resolve()
            if not path.is_file() or path.parent != folder:
                continue
            method = zipfile.ZIP_STORED if path.suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
            archive.write(path, f"{violation.id}/{entry.name}", compress_type=method)
    spool.seek(0)
    return spool


def iter_file(handle: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    try:
        while data := handle.read(chunk):
            yield data
    finally:
        handle.close()
