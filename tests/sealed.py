"""Test helper: make a hand-written evidence folder look as the pipeline leaves it (a manifest listing every file
with its SHA-256, signed with the installation's key), so the API's integrity check passes on it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from service.evidence import MANIFEST, MANIFEST_FORMAT, SIGNATURE
from service.signing import ManifestSigner


def seal(folder: Path, violation_id: str, key_file: Path) -> None:
    files = [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
             for p in sorted(folder.iterdir())
             if p.is_file() and not p.is_symlink() and not p.name.startswith(".") and p.name not in (MANIFEST, SIGNATURE)]
    data = json.dumps({"format": MANIFEST_FORMAT, "violation": {"id": violation_id}, "files": files, "chain": None},
                      indent=2).encode("utf-8")
    (folder / MANIFEST).write_bytes(data)
    (folder / SIGNATURE).write_bytes(ManifestSigner.load_or_create(key_file).signature(data))
