"""`firelane verify`: is this evidence what firelane recorded? For one violation's folder, an exported ZIP, or the
whole evidence store, local or in object storage (every camera's chain, and the database's rows when one is given).

Each problem names where it is and what is wrong: a file altered or missing, a manifest not signed or signed by
another key, a violation whose writer stopped before its manifest (incomplete), a settled violation whose
predecessor in its camera's chain is gone (removed), two violations claiming the same predecessor or a second chain
start (inserted), a database row whose evidence is not there.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.evidence import MANIFEST, SIGNATURE, verify_files
from service.evidence_store import S3_SCHEME, EvidenceMissing, EvidenceStore, LocalEvidenceStore, open_store
from service.signing import ManifestSigner, check_signature, sealed_at


@dataclass
class Report:
    checked: int = 0  # violation folders looked at
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not wrong, but a reader of the evidence should know
    sealed_later: dict[str, str] = field(default_factory=dict)  # where → when `firelane seal` signed it

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Sealed:
    violation_id: str
    folder: str
    previous_sha: str | None


def _names(store: EvidenceStore, prefix: str) -> list[str]:
    """The files directly in the violation's folder."""
    return [key[len(prefix) + 1:] for key in store.keys(prefix) if "/" not in key[len(prefix) + 1:]]


def _check_folder(store: EvidenceStore, prefix: str, public_key: Ed25519PublicKey, where: str, report: Report,
                  extras: bool = True) -> tuple[dict, str] | None:
    """Files and signature of the violation at ``prefix``; its manifest and the manifest's SHA-256 when readable."""
    report.checked += 1
    try:
        data = store.read(f"{prefix}/{MANIFEST}")
        manifest = json.loads(data)
        listed = {entry["name"] for entry in manifest["files"]}
        faults = verify_files(store, prefix, manifest)
    except EvidenceMissing:
        written = [n for n in _names(store, prefix) if not n.startswith(".")]
        report.problems.append(f"{where}: incomplete: no manifest.json beside {', '.join(written)} (its writer "
                               "stopped before the manifest)" if written else f"{where}: manifest.json missing")
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        report.problems.append(f"{where}: manifest.json or its files unreadable ({type(error).__name__}: {error})")
        return None
    report.problems += [f"{where}: {fault}" for fault in faults]
    try:
        signature = store.read(f"{prefix}/{SIGNATURE}")
    except OSError:
        report.problems.append(f"{where}: not signed (manifest.sig missing)")
    else:
        fault = check_signature(data, signature, public_key)
        if fault:
            report.problems.append(f"{where}: {fault}")
        elif when := sealed_at(signature):
            report.sealed_later[where] = when
            report.notes.append(f"{where}: recorded before evidence was signed; sealed on {when} (its files were "
                                "checked against the manifest then, not when recorded)")
    extra = extras and sorted(n for n in _names(store, prefix)
                              if not n.startswith(".") and n not in listed | {MANIFEST, SIGNATURE}
                              and n not in ("decision.json", "public_key.pem", "README.txt"))
    if extra:
        report.problems.append(f"{where}: files the manifest does not list: {', '.join(extra)} (written after "
                               "it: incomplete, or added)")
    return manifest, hashlib.sha256(data).hexdigest()


def _check_chain(camera: str, sealed: dict[str, _Sealed], report: Report) -> None:
    followers: dict[str, list[_Sealed]] = defaultdict(list)
    starts = []
    for link in sealed.values():
        if link.previous_sha is None:
            starts.append(link)
        elif link.previous_sha not in sealed:
            report.problems.append(f"camera {camera}: {link.folder} follows a violation whose settled manifest "
                                   f"(SHA-256 {link.previous_sha[:12]}…) is missing or altered: removed from the record?")
        else:
            followers[link.previous_sha].append(link)
    if len(starts) > 1:
        names = ", ".join(sorted(s.folder for s in starts))
        report.problems.append(f"camera {camera}: {len(starts)} chain starts ({names}): inserted, or the chain was lost")
    for previous, links in followers.items():
        if len(links) > 1:
            names = ", ".join(sorted(s.folder for s in links))
            report.problems.append(f"camera {camera}: {names} all follow {sealed[previous].folder}: one was inserted")


def _cameras(store: EvidenceStore) -> list[str]:
    return [c for c in store.folders() if not c.startswith(("_", "."))]


def _violations(store: EvidenceStore, camera: str) -> list[str]:
    """The camera's violation folders, as ``<camera>/<violation>`` keys."""
    return [f"{camera}/{f}" for f in store.folders(camera) if not f.startswith(("_", "."))]


def verify_store(store: EvidenceStore, public_key: Ed25519PublicKey, report: Report | None = None) -> Report:
    """Every violation folder in the store (``<camera>/<violation>/``) and every camera's chain."""
    report = report or Report()
    for camera in _cameras(store):
        sealed: dict[str, _Sealed] = {}
        for where in _violations(store, camera):
            checked = _check_folder(store, where, public_key, where, report)
            if checked is None:
                continue
            manifest, sha = checked
            chain = manifest.get("chain")
            if chain is not None:
                previous = (chain.get("previous") or {}).get("manifest_sha256")
                sealed[sha] = _Sealed(manifest["violation"]["id"], where, previous)
        _check_chain(camera, sealed, report)
    return report


def verify_database(store: EvidenceStore, violations: list[tuple[str, str, str | None]], report: Report) -> None:
    """Rows (id, evidence_dir, manifest_sha256) whose evidence folder is gone or whose manifest is not the one the
    database recorded."""
    for violation_id, evidence_dir, manifest_sha in violations:
        try:
            data = store.read(f"{evidence_dir}/{MANIFEST}")
        except (EvidenceMissing, ValueError):
            report.problems.append(f"violation {violation_id}: its evidence {evidence_dir} is missing (deleted?)")
            continue
        if manifest_sha and hashlib.sha256(data).hexdigest() != manifest_sha:
            report.problems.append(f"violation {violation_id}: manifest differs from the one the database recorded")


@dataclass(frozen=True)
class EvidenceCheck:
    """One violation's evidence as the API shows it: what is wrong with it (empty: intact and signed), and when
    evidence recorded before the installation signed evidence was sealed by ``firelane seal`` (None: signed when it
    was recorded, or not validly signed). Police must tell the two apart: a later seal vouches for the files only
    from then on."""

    problems: list[str]
    sealed_later_at: datetime | None = None


def check_evidence(store: EvidenceStore, prefix: str, public_key: Ed25519PublicKey) -> EvidenceCheck:
    """The check of one violation's evidence, for the API to say before it shows or exports it."""
    report = Report()
    _check_folder(store, prefix, public_key, "evidence", report, extras=False)  # an export takes only listed files
    sealed = report.sealed_later.get("evidence")  # a time: check_signature accepts no other label
    return EvidenceCheck([problem.removeprefix("evidence: ") for problem in report.problems],
                         datetime.fromisoformat(sealed) if sealed else None)


def verify_url(url: str, public_key: Ed25519PublicKey, settings: object = None) -> Report:
    """One violation (``s3://bucket/prefix/<camera>/<violation>``) or a whole store (``s3://bucket/prefix``)."""
    store = open_store(url, settings)
    report = Report()
    if store.exists(MANIFEST):
        parent, name = url.rstrip("/").rsplit("/", 1)
        _check_folder(open_store(parent, settings), name, public_key, name, report)
        return report
    return verify_store(store, public_key, report)


def verify_path(path: Path | str, public_key: Ed25519PublicKey, settings: object = None) -> Report:
    """A violation folder, an exported ZIP, or an evidence store; folders, or s3:// URLs (endpoint and credentials
    from ``settings``)."""
    if str(path).startswith(S3_SCHEME):
        return verify_url(str(path), public_key, settings)
    path = Path(path)
    report = Report()
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="firelane-verify-") as scratch, zipfile.ZipFile(path) as archive:
            for name in archive.namelist():  # flat, or one folder named by the violation (as exported)
                parts = Path(name).parts
                if len(parts) > 2 or Path(name).is_absolute() or ".." in parts:
                    report.problems.append(f"{path.name}: unexpected entry {name!r}")
                    return report
            archive.extractall(scratch)
            folders = [p for p in Path(scratch).iterdir() if p.is_dir()]
            folder = folders[0] if not (Path(scratch) / MANIFEST).exists() and len(folders) == 1 else Path(scratch)
            _check_folder(LocalEvidenceStore(folder.parent), folder.name, public_key, path.name, report)
        return report
    if (path / MANIFEST).exists():
        folder = path.resolve()
        _check_folder(LocalEvidenceStore(folder.parent), folder.name, public_key, path.name, report)
        return report
    if path.is_dir():
        return verify_store(LocalEvidenceStore(path), public_key, report)
    report.problems.append(f"{path}: not a violation folder, an exported ZIP or an evidence store")
    return report


def seal_unsigned(store: EvidenceStore, signer: ManifestSigner, now: datetime, *, dry_run: bool = False) -> Report:
    """Sign the manifests of evidence recorded before this installation signed evidence (they have no manifest.sig),
    labelled with the time of sealing, so police can export it. Only evidence whose files still match its manifest is
    sealed; anything else is named and left unsigned. ``checked`` counts the manifests sealed (or, dry, to seal)."""
    report = Report()
    for camera in _cameras(store):
        for where in _violations(store, camera):
            if store.exists(f"{where}/{SIGNATURE}"):
                continue
            try:
                data = store.read(f"{where}/{MANIFEST}")
                faults = verify_files(store, where, json.loads(data))
            except EvidenceMissing:
                continue  # incomplete: there is no manifest to vouch for (verify names it)
            except (OSError, ValueError, KeyError, TypeError) as error:
                faults = [f"manifest.json or its files unreadable ({type(error).__name__}: {error})"]
            if faults:
                report.problems += [f"{where}: not sealed: {fault}" for fault in faults]
                continue
            if not dry_run:
                store.put(f"{where}/{SIGNATURE}", signer.signature(data, sealed_at=now))
            report.checked += 1
            report.notes.append(f"{where}: {'would be sealed' if dry_run else 'sealed'}")
    return report
