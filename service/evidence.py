"""Evidence files of one violation: timed stills (overlay + clean copy), object crop, clip, and a manifest.

The manifest lists every file with its SHA-256 and the violation's facts; its own hash goes to the database, so
altering any file or the manifest afterwards shows. It is signed with the installation's key (``manifest.sig``,
service.signing), and once a violation is settled its manifest names the camera's previous settled manifest (its
SHA-256): a chain per camera, so a violation removed from or inserted into the record shows too.

A file that cannot be written (a full or read-only disk) does not stop the violation: it is named in ``problems``,
nothing half-written is left behind, and the violation's facts still reach the database marked incomplete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from service.clip import ClipError, write_webm
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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


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
    """The folder of one violation and what has been written to it so far."""

    root: Path
    relative_dir: Path
    camera: CameraZones
    zone: Zone
    font_path: Path | None = None
    signer: ManifestSigner | None = None
    files: dict[str, EvidenceFile] = field(default_factory=dict)
    manifest_sha256: str | None = None
    manifest_bytes: int | None = None
    problems: list[str] = field(default_factory=list)  # files that could not be written, with the reason

    @property
    def folder(self) -> Path:
        return self.root / self.relative_dir

    @property
    def complete(self) -> bool:
        return not self.problems

    def state(self) -> dict:
        """What a restarted camera needs to go on adding to this folder."""
        return {"dir": self.relative_dir.as_posix(), "files": [f.to_json() for f in self.files.values()],
                "manifest_sha256": self.manifest_sha256, "manifest_bytes": self.manifest_bytes,
                "problems": list(self.problems)}

    @classmethod
    def resume(cls, root: Path, state: dict, camera: CameraZones, zone: Zone, font_path: Path | None,
               signer: ManifestSigner | None) -> EvidenceSet:
        files = {f["name"]: EvidenceFile.from_json(f) for f in state["files"]}
        return cls(root, Path(state["dir"]), camera, zone, font_path, signer, files, state["manifest_sha256"],
                   state["manifest_bytes"], list(state["problems"]))

    def previous_link(self) -> ChainLink | None:
        """The previous link its settled manifest on disk names (a violation settled again keeps its place)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return ChainLink.from_json((manifest.get("chain") or {}).get("previous"))

    def _failed(self, name: str, error: Exception) -> None:
        reason = getattr(error, "strerror", None) or str(error)
        self.problems.append(f"{name}: {reason}")
        log.error("evidence %s/%s not written: %s", self.relative_dir.as_posix(), name, reason)

    def _add(self, name: str, role: str, data: bytes | None, captured_at: datetime | None) -> None:
        path = self.folder / name
        try:
            if data is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                _write_atomically(path, data)
            self.files[name] = EvidenceFile(
                name, role, MEDIA_TYPES[path.suffix], sha256_file(path), path.stat().st_size, captured_at
            )
        except OSError as error:
            self._failed(name, error)

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
        self._add(f"{stem}.jpg", role, _jpeg(overlay), captured_at)
        self._add(f"{stem}.clean.jpg", f"{role}_clean", _jpeg(image, quality=95), captured_at)

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
        self._add("00-before.jpg", "before", _jpeg(overlay), None)
        self._add("00-before.clean.jpg", "before_clean", _jpeg(reference, quality=95), None)

    def discard(self, stem: str) -> None:
        """Remove an interim still (and its clean copy) that a later one replaces."""
        for name in (f"{stem}.jpg", f"{stem}.clean.jpg"):
            if self.files.pop(name, None) is not None:
                (self.folder / name).unlink(missing_ok=True)

    def add_crop(self, image: np.ndarray, box: tuple[float, float, float, float], captured_at: datetime) -> None:
        """The object enlarged, for reading its plate."""
        self._add("crop.jpg", "crop", _jpeg(crop_object(image, box), quality=95), captured_at)

    def add_plate(self, plate: np.ndarray, captured_at: datetime) -> None:
        """The best crop of the vehicle's plate (the one its reading rests on); a better one replaces it."""
        self._add("plate.jpg", "plate", _jpeg(plate, quality=95), captured_at)

    def add_clip(self, frames: list[np.ndarray], fps: float, captured_at: datetime) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_webm(frames, self.folder / "clip.webm", fps)
        except (OSError, ClipError) as error:
            self._failed("clip.webm", error)
            return
        self._add("clip.webm", "clip", None, captured_at)

    def write_manifest(self, facts: dict, chain: dict | None = None) -> None:
        """``chain`` (settled violations only): ``{"camera_id", "previous": ChainLink json or None}``."""
        manifest = {
            "format": MANIFEST_FORMAT,
            "violation": facts,
            "files": [f.to_json() for f in sorted(self.files.values(), key=lambda f: f.name)],
            "chain": chain,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.signer is not None:  # the signature first: a crash between the two leaves a mismatch to see
                _write_atomically(self.folder / SIGNATURE, self.signer.signature(data))
            _write_atomically(self.folder / MANIFEST, data)
        except OSError as error:  # the previous manifest (if any) stays, and still matches its hash
            self._failed(MANIFEST, error)
            return
        self.manifest_sha256 = hashlib.sha256(data).hexdigest()
        self.manifest_bytes = len(data)


def chain_head(camera_folder: Path) -> ChainLink | None:
    """The last settled violation of a camera's evidence folder: the settled manifest no other one names as its
    previous (None when there is none). For a camera that starts without a checkpoint (``firelane run``)."""
    sealed: dict[str, ChainLink] = {}
    named: set[str] = set()
    for path in camera_folder.glob(f"*/{MANIFEST}") if camera_folder.is_dir() else []:
        try:
            data = path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError):
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
        log.warning("%s: %d chain heads; continuing after %s", camera_folder, len(heads), heads[0].violation_id)
    return heads[0] if heads else None


def verify_manifest(folder: Path) -> list[str]:
    """Files whose content no longer matches the manifest (empty when the evidence is intact)."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    faults = []
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if path.is_symlink():  # whatever it points to, it is not the file that was recorded here
            faults.append(f"{entry['name']}: replaced by a link")
        elif not path.is_file():
            faults.append(f"{entry['name']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            faults.append(f"{entry['name']}: altered (SHA-256 differs)")
    return faults
