"""Evidence files of one violation: timed stills (overlay + clean copy), object crop, clip, and a manifest.

The manifest lists every file with its SHA-256 and the violation's facts; its own hash goes to the database, so
altering any file or the manifest afterwards shows. It is signed with the installation's key (``manifest.sig``,
service.signing), and once a violation is settled its manifest names the camera's previous settled manifest (its
SHA-256): a chain per camera, so a violation removed from or inserted into the record shows too.

Files go to the installation's evidence store (service.evidence_store: a local folder or S3-compatible object
storage), every file before the manifest that lists it, the signature just before the manifest: a writer that dies
part-way leaves files the manifest does not list yet (or no manifest at all), which ``firelane verify`` names as
incomplete, never a manifest that lists what is not there.

A file that cannot be written (a full or read-only disk, object storage down) does not stop the violation: it is
named in ``problems``, nothing half-written is left behind, and the violation's facts still reach the database
marked incomplete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from service.clip import ClipError, write_webm
from service.evidence_store import EvidenceLinked, EvidenceMissing, EvidenceStore, LocalEvidenceStore, sha256_bytes
from service.signing import ManifestSigner
from service.overlay import OverlayBox, OverlayZone, crop_object, draw_overlay
from zones.config import CameraZones, Zone
from zones.occupancy import Occupant

log = logging.getLogger(__name__)
KIND_LABELS = {"fire_lane": "消防车通道", "rescue_site": "消防救援场地", "no_parking": "禁停区"}
ROLE_LABELS = {"before": "⓪ 空闲时参照画面", "begin": "① 开始占用", "grace": "② 超过允许停留时间",
               "latest": "③ 最新画面", "last": "③ 最后画面"}
MEDIA_TYPES = {".jpg": "image/jpeg", ".webm": "video/webm", ".json": "application/json"}
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
MANIFEST_FORMAT = "firelane-evidence/1"


@dataclass(frozen=True)
class ChainLink:
    """A settled violation's place in its camera's chain: its id and the SHA-256 of its settled manifest."""

    violation_id: str
    manifest_sha256: str

    def to_json(self) -> dict:
        return {"violation_id": self.violation_id, "manifest_sha256": self.manifest_sha256}

    @classmethod
    def from_json(cls, data: dict | None) -> ChainLink | None:
        return cls(data["violation_id"], data["manifest_sha256"]) if data else None


def _jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


@dataclass(frozen=True)
class EvidenceFile:
    name: str
    role: str
    media_type: str
    sha256: str
    bytes: int
    captured_at: datetime | None

    def to_json(self) -> dict:
        data = asdict(self)
        data["captured_at"] = self.captured_at.isoformat() if self.captured_at else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> EvidenceFile:
        captured_at = datetime.fromisoformat(data["captured_at"]) if data["captured_at"] else None
        return cls(data["name"], data["role"], data["media_type"], data["sha256"], int(data["bytes"]), captured_at)


@dataclass
class EvidenceSet:
    """The folder of one violation in the evidence store and what has been written to it so far."""

    store: EvidenceStore
    relative_dir: Path
    camera: CameraZones
    zone: Zone
    font_path: Path | None = None
    signer: ManifestSigner | None = None
    files: dict[str, EvidenceFile] = field(default_factory=dict)
    manifest_sha256: str | None = None
    manifest_bytes: int | None = None
    problems: list[str] = field(default_factory=list)  # files that could not be written, with the reason
    signature_sha256: str | None = None  # of the manifest.sig last written (for its evidence row)
    signature_bytes: int | None = None
    written: tuple[dict, dict | None] | None = None  # the facts and chain of the manifest last written here

    @property
    def prefix(self) -> str:
        return self.relative_dir.as_posix()

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    @property
    def location(self) -> str:
        """Where people find the folder: a path, or an s3:// URL."""
        return self.store.location(self.prefix)

    @property
    def folder(self) -> Path:
        """The folder on disk (local stores only)."""
        path = self.store.local_path(self.prefix)
        if path is None:
            raise ValueError(f"the evidence of {self.prefix} is in object storage ({self.location}), not on disk")
        return path

    @property
    def complete(self) -> bool:
        return not self.problems

    def state(self) -> dict:
        """What a restarted camera needs to go on adding to this folder."""
        return {"dir": self.relative_dir.as_posix(), "files": [f.to_json() for f in self.files.values()],
                "manifest_sha256": self.manifest_sha256, "manifest_bytes": self.manifest_bytes,
                "problems": list(self.problems)}

    @classmethod
    def resume(cls, store: EvidenceStore, state: dict, camera: CameraZones, zone: Zone, font_path: Path | None,
               signer: ManifestSigner | None) -> EvidenceSet:
        files = {f["name"]: EvidenceFile.from_json(f) for f in state["files"]}
        return cls(store, Path(state["dir"]), camera, zone, font_path, signer, files, state["manifest_sha256"],
                   state["manifest_bytes"], list(state["problems"]))

    def previous_link(self) -> ChainLink | None:
        """The previous link its settled manifest in the store names (a violation settled again keeps its place)."""
        try:
            manifest = json.loads(self.store.read(self.key(MANIFEST)))
        except (OSError, ValueError):
            return None
        return ChainLink.from_json((manifest.get("chain") or {}).get("previous"))

    def _failed(self, name: str, error: Exception) -> None:
        reason = getattr(error, "strerror", None) or str(error)
        self.problems.append(f"{name}: {reason}")
        log.error("evidence %s/%s not written: %s", self.relative_dir.as_posix(), name, reason)

    def _unlist(self, names: list[str]) -> None:
        """Take files out of the manifest before they are replaced or removed: a writer that dies in between leaves
        a file the manifest does not list (incomplete), never a listed file that differs (altered) or is gone."""
        if [n for n in names if self.files.pop(n, None) is not None] and self.written is not None:
            self.write_manifest(*self.written)

    def add_file(self, name: str, role: str, data: bytes, captured_at: datetime | None) -> None:
        """Put one more file into the violation's evidence (listed, with its hash, by the next manifest)."""
        self._unlist([name])
        try:
            self.store.put(self.key(name), data)
        except OSError as error:
            self._failed(name, error)
            return
        self.files[name] = EvidenceFile(name, role, MEDIA_TYPES[Path(name).suffix], sha256_bytes(data), len(data),
                                        captured_at)

    def add_still(self, number: int, role: str, image: np.ndarray, captured_at: datetime, occupant: Occupant,
                  note: str | None = None) -> None:
        """Write the frame twice: with the overlay a reviewer reads (``note``: one more header line, such as the
        clear width left), and untouched as the original."""
        dwell = (captured_at - occupant.still_since).total_seconds()
        header = [
            f"{self.camera.camera_name}  [{self.camera.camera_id}]",
            f"{self.zone.name} · {KIND_LABELS.get(self.zone.kind, self.zone.kind)}",
            f"{ROLE_LABELS.get(role, role)}  {captured_at.astimezone(self.camera.timezone):%Y-%m-%d %H:%M:%S %z}",
            f"已停留 {format_duration(dwell)} / 允许 {format_duration(self.zone.grace_s)}",
            *([note] if note else []),
        ]
        zone = OverlayZone(list(self.zone.polygon.exterior.coords)[:-1], self.zone.name, alert=True)
        box = OverlayBox(occupant.box, f"{occupant.class_name} {occupant.confidence:.2f}", alert=True)
        overlay = draw_overlay(image, [zone], [box], header, font_path=self.font_path)
        stem = f"{number:02d}-{role}"
        self._unlist([f"{stem}.jpg", f"{stem}.clean.jpg"])  # a newer "latest" replaces the last one
        self.add_file(f"{stem}.jpg", role, _jpeg(overlay), captured_at)
        self.add_file(f"{stem}.clean.jpg", f"{role}_clean", _jpeg(image, quality=95), captured_at)

    def add_before(self, reference: np.ndarray, occupant: Occupant) -> None:
        """The lane as it looked empty, with the outline of what has appeared since: for an object no detector
        names, reviewers see at a glance what is in the lane by comparing it with the "begin" still."""
        header = [
            f"{self.camera.camera_name}  [{self.camera.camera_id}]",
            f"{self.zone.name} · {KIND_LABELS.get(self.zone.kind, self.zone.kind)}",
            ROLE_LABELS["before"],
            "框内为之后出现的物体 (outline: what appeared)",
        ]
        zone = OverlayZone(list(self.zone.polygon.exterior.coords)[:-1], self.zone.name, alert=False)
        box = OverlayBox(occupant.rest_box, "不明占用物 obstruction", alert=True)
        overlay = draw_overlay(reference, [zone], [box], header, font_path=self.font_path)
        self.add_file("00-before.jpg", "before", _jpeg(overlay), None)
        self.add_file("00-before.clean.jpg", "before_clean", _jpeg(reference, quality=95), None)

    def discard(self, stem: str) -> None:
        """Remove an interim still (and its clean copy) that a later one replaces."""
        names = [n for n in (f"{stem}.jpg", f"{stem}.clean.jpg") if n in self.files]
        self._unlist(names)
        for name in names:
            try:
                self.store.delete(self.key(name))
            except OSError as error:  # left behind: verify names it as a file the manifest does not list
                log.warning("evidence %s not removed: %s", self.key(name), error)

    def add_crop(self, image: np.ndarray, box: tuple[float, float, float, float], captured_at: datetime) -> None:
        """The object enlarged, for reading its plate."""
        self.add_file("crop.jpg", "crop", _jpeg(crop_object(image, box), quality=95), captured_at)

    def add_plate(self, plate: np.ndarray, captured_at: datetime) -> None:
        """The best crop of the vehicle's plate (the one its reading rests on); a better one replaces it."""
        self.add_file("plate.jpg", "plate", _jpeg(plate, quality=95), captured_at)

    def add_clip(self, frames: list[np.ndarray], fps: float, captured_at: datetime) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="firelane-clip-") as scratch:
                path = Path(scratch) / "clip.webm"
                write_webm(frames, path, fps)
                data = path.read_bytes()
        except (OSError, ClipError) as error:
            self._failed("clip.webm", error)
            return
        self.add_file("clip.webm", "clip", data, captured_at)

    def write_manifest(self, facts: dict, chain: dict | None = None) -> None:
        """``chain`` (settled violations only): ``{"camera_id", "previous": ChainLink json or None}``."""
        manifest = {
            "format": MANIFEST_FORMAT,
            "violation": facts,
            "files": [f.to_json() for f in sorted(self.files.values(), key=lambda f: f.name)],
            "chain": chain,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        signature = self.signer.signature(data) if self.signer is not None else None
        try:
            if signature is not None:  # the signature first: a crash between the two leaves a mismatch to see
                self.store.put(self.key(SIGNATURE), signature)
            self.store.put(self.key(MANIFEST), data)  # last: it lists only files already in the store
        except OSError as error:  # the previous manifest (if any) stays, and still matches its hash
            self._failed(MANIFEST, error)
            return
        self.manifest_sha256 = hashlib.sha256(data).hexdigest()
        self.manifest_bytes = len(data)
        self.written = (facts, chain)
        if signature is not None:
            self.signature_sha256, self.signature_bytes = sha256_bytes(signature), len(signature)


def chain_head(store: EvidenceStore, camera_id: str) -> ChainLink | None:
    """The last settled violation of a camera in the store: the settled manifest no other one names as its
    previous (None when there is none). For a camera that starts without a checkpoint (``firelane run``, a camera
    whose state was cleared), on whichever machine: it reads the store, not a local folder."""
    sealed: dict[str, ChainLink] = {}
    named: set[str] = set()
    for folder in store.folders(camera_id):
        if folder.startswith(("_", ".")):
            continue
        try:
            data = store.read(f"{camera_id}/{folder}/{MANIFEST}")
            manifest = json.loads(data)
        except (EvidenceMissing, ValueError):
            continue
        if manifest.get("chain") is None:
            continue
        link = ChainLink(manifest["violation"]["id"], hashlib.sha256(data).hexdigest())
        sealed[link.manifest_sha256] = link
        previous = manifest["chain"].get("previous")
        if previous:
            named.add(previous["manifest_sha256"])
    heads = [link for sha, link in sealed.items() if sha not in named]
    if len(heads) > 1:
        log.warning("%s: %d chain heads; continuing after %s", store.location(camera_id), len(heads),
                    heads[0].violation_id)
    return heads[0] if heads else None


def verify_files(store: EvidenceStore, prefix: str, manifest: dict | None = None) -> list[str]:
    """Files of the violation at ``prefix`` whose content no longer matches its manifest (empty when intact)."""
    manifest = manifest if manifest is not None else json.loads(store.read(f"{prefix}/{MANIFEST}"))
    faults = []
    for entry in manifest["files"]:
        try:
            data = store.read(f"{prefix}/{entry['name']}")
        except EvidenceLinked:  # whatever it points to, it is not the file that was recorded here
            faults.append(f"{entry['name']}: replaced by a link")
        except EvidenceMissing:
            faults.append(f"{entry['name']}: missing")
        else:
            if sha256_bytes(data) != entry["sha256"]:
                faults.append(f"{entry['name']}: altered (SHA-256 differs)")
    return faults


def verify_manifest(folder: Path) -> list[str]:
    """``verify_files`` for a violation folder on disk."""
    return verify_files(LocalEvidenceStore(folder.parent), folder.name)
