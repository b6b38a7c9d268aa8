"""Evidence files from the installation's store (a local folder or object storage), strictly inside the violation's
folder: on disk no path part, ``..`` or symlink leads out of it; in object storage the key is checked the same way."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.db.errors import NotFoundError
from service.db.models import Violation
from service.evidence import MANIFEST, SIGNATURE
from service.evidence_store import EvidenceMissing, EvidenceStore, LocalEvidenceStore, check_key
from service.signing import key_id, public_key_pem
from service.verify import EvidenceCheck, check_evidence

_STORED = {".jpg", ".jpeg", ".png", ".webm", ".mp4"}  # already compressed


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def evidence_folder(root: Path, violation: Violation) -> Path:
    """The violation's folder on disk, resolved; it (and every symlink on the way) must stay under ``root``."""
    base = root.resolve()
    folder = (base / violation.evidence_dir).resolve()
    if not _inside(folder, base) or folder == base or not folder.is_dir():
        raise NotFoundError(f"the evidence of violation {violation.id!r} is not available")
    return folder


def _object_prefix(store: EvidenceStore, violation: Violation) -> str:
    """The violation's key prefix in object storage; ``NotFoundError`` when it is no plain key or holds nothing."""
    try:
        prefix = check_key(violation.evidence_dir)
    except ValueError:
        prefix = ""
    if not prefix or not store.keys(prefix):
        raise NotFoundError(f"the evidence of violation {violation.id!r} is not available")
    return prefix


def _located(store: EvidenceStore, violation: Violation) -> tuple[EvidenceStore, str]:
    """The store and key prefix of the violation's evidence, checked to be there."""
    if isinstance(store, LocalEvidenceStore):
        folder = evidence_folder(store.root, violation)
        return LocalEvidenceStore(folder.parent), folder.name
    return store, _object_prefix(store, violation)


def evidence_file(store: EvidenceStore, violation: Violation, name: str) -> Path | bytes:
    """A file named in the violation's evidence rows: its resolved path on disk, or its bytes from object storage;
    else ``NotFoundError``.

    Names not listed, names with path parts, and symlinks leading out of the folder all give the same
    answer, so nothing about the storage outside the folder can be learnt.
    """
    listed = {f.name for f in violation.evidence}
    missing = NotFoundError(f"violation {violation.id!r} has no evidence file {name!r}")
    if name not in listed or not name or name != Path(name).name or name in (".", ".."):
        raise missing
    if isinstance(store, LocalEvidenceStore):
        folder = evidence_folder(store.root, violation)
        path = (folder / name).resolve()
        if not _inside(path, folder) or path == folder or not path.is_file():
            raise missing
        return path
    try:
        return store.read(f"{_object_prefix(store, violation)}/{name}")
    except (EvidenceMissing, NotFoundError):
        raise missing from None


VERIFY_README = """firelane evidence of violation {id}

manifest.json lists every file of this violation with its SHA-256 and the violation's facts.
manifest.sig is the Ed25519 signature of manifest.json by the installation's key; public_key.pem is that key
(key id {key_id}: compare it with the one the installation publishes, `firelane key` or /api/evidence/public-key).
decision.json is the police decision (not part of the signed evidence; the audit log of the installation has it).

To verify offline:
  firelane verify this.zip --public-key public_key.pem
or by hand: sha256sum each file and compare with manifest.json; check manifest.sig's signature over the bytes of
manifest.json with any Ed25519 tool (e.g. Python's cryptography package, or openssl pkeyutl -verify -rawin).
If manifest.sig has "sealed_at", the evidence was recorded before the installation signed evidence and was sealed
then (its files were checked against the manifest at that time): the signature covers the line
"firelane-sealed-later/1", a line with the sealed_at value, then the bytes of manifest.json.
"""


def integrity(store: EvidenceStore, violation: Violation, public_key: Ed25519PublicKey) -> EvidenceCheck:
    """What is wrong with a violation's evidence in the store (no problems: intact and signed) and whether it was
    sealed later; ``NotFoundError`` when its folder is not there at all."""
    located, prefix = _located(store, violation)
    return check_evidence(located, prefix, public_key)


def _folder_files(store: EvidenceStore, violation: Violation) -> Iterator[tuple[str, Path | bytes]]:
    """The listed files directly in the violation's folder: paths on disk (never links, nor hidden partial files),
    or bytes from object storage."""
    listed = {f.name for f in violation.evidence} | {MANIFEST, SIGNATURE}
    if isinstance(store, LocalEvidenceStore):
        folder = evidence_folder(store.root, violation)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith(".") or entry.name not in listed:
                continue
            path = Path(entry.path).resolve()
            if path.is_file() and path.parent == folder:
                yield entry.name, path
        return
    prefix = _object_prefix(store, violation)
    for key in store.keys(prefix):
        name = key[len(prefix) + 1:]
        if "/" not in name and name in listed:
            yield name, store.read(key)


def export_zip(store: EvidenceStore, violation: Violation, public_key: Ed25519PublicKey,
               decision: dict | None) -> IO[bytes]:
    """A ZIP of every listed file of the violation's evidence (manifest and signature included), the public key, the
    police decision and how to verify it offline; rewound. No server paths or bucket names: file names only."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w") as archive:
        archive.writestr(f"{violation.id}/public_key.pem", public_key_pem(public_key))
        archive.writestr(f"{violation.id}/decision.json", json.dumps(decision, ensure_ascii=False, indent=2))
        archive.writestr(f"{violation.id}/README.txt", VERIFY_README.format(id=violation.id, key_id=key_id(public_key)))
        for name, content in _folder_files(store, violation):
            method = zipfile.ZIP_STORED if Path(name).suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
            if isinstance(content, Path):
                archive.write(content, f"{violation.id}/{name}", compress_type=method)
            else:
                archive.writestr(f"{violation.id}/{name}", content, compress_type=method)
    spool.seek(0)
    return spool


def iter_file(handle: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    try:
        while data := handle.read(chunk):
            yield data
    finally:
        handle.close()
