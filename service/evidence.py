"""Evidence files of one violation: timed stills (overlay + clean copy), object crop, clip, and a manifest.

The manifest lists every file with its SHA-256 and the violation's facts; its own hash goes to the database, so
altering any file or the manifest afterwards shows.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from service.clip import write_webm
from service.overlay import OverlayBox, OverlayZone, crop_object, draw_overlay
from zones.config import CameraZones, Zone
from zones.occupancy import Occupant

KIND_LABELS = {"fire_lane": "消防车通道", "rescue_site": "消防救援场地", "no_parking": "禁停区"}
ROLE_LABELS = {"begin": "① 开始占用", "grace": "② 超过允许停留时间", "latest": "③ 最新画面", "last": "③ 最后画面"}
MEDIA_TYPES = {".jpg": "image/jpeg", ".webm": "video/webm", ".json": "application/json"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


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


@dataclass
class EvidenceSet:
    """The folder of one violation and what has been written to it so far."""

    root: Path
    relative_dir: Path
    camera: CameraZones
    zone: Zone
    font_path: Path | None = None
    files: dict[str, EvidenceFile] = field(default_factory=dict)
    manifest_sha256: str | None = None

    @property
    def folder(self) -> Path:
        return self.root / self.relative_dir

    def _add(self, name: str, role: str, data: bytes | None, captured_at: datetime | None) -> None:
        path = self.folder / name
        if data is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        self.files[name] = EvidenceFile(
            name, role, MEDIA_TYPES[path.suffix], sha256_file(path), path.stat().st_size, captured_at
        )

    def add_still(self, number: int, role: str, image: np.ndarray, captured_at: datetime, occupant: Occupant) -> None:
        """Write the frame twice: with the overlay a reviewer reads, and untouched as the original."""
        dwell = (captured_at - occupant.still_since).total_seconds()
        header = [
            f"{self.camera.camera_name}  [{self.camera.camera_id}]",
            f"{self.zone.name} · {KIND_LABELS.get(self.zone.kind, self.zone.kind)}",
            f"{ROLE_LABELS.get(role, role)}  {captured_at.astimezone(self.camera.timezone):%Y-%m-%d %H:%M:%S %z}",
            f"已停留 {format_duration(dwell)} / 允许 {format_duration(self.zone.grace_s)}",
        ]
        zone = OverlayZone(list(self.zone.polygon.exterior.coords)[:-1], self.zone.name, alert=True)
        box = OverlayBox(occupant.box, f"{occupant.class_name} {occupant.confidence:.2f}", alert=True)
        overlay = draw_overlay(image, [zone], [box], header, font_path=self.font_path)
        stem = f"{number:02d}-{role}"
        self._add(f"{stem}.jpg", role, _jpeg(overlay), captured_at)
        self._add(f"{stem}.clean.jpg", f"{role}_clean", _jpeg(image, quality=95), captured_at)

    def add_crop(self, image: np.ndarray, box: tuple[float, float, float, float], captured_at: datetime) -> None:
        """The object enlarged, for reading its plate."""
        self._add("crop.jpg", "crop", _jpeg(crop_object(image, box), quality=95), captured_at)

    def add_clip(self, frames: list[np.ndarray], fps: float, captured_at: datetime) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_webm(frames, self.folder / "clip.webm", fps)
        self._add("clip.webm", "clip", None, captured_at)

    def write_manifest(self, facts: dict) -> None:
        manifest = {
            "format": "firelane-evidence/1",
            "violation": facts,
            "files": [f.to_json() for f in sorted(self.files.values(), key=lambda f: f.name)],
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.folder / "manifest.json", data)
        self.manifest_sha256 = hashlib.sha256(data).hexdigest()


def verify_manifest(folder: Path) -> list[str]:
    """Files whose content no longer matches the manifest (empty when the evidence is intact)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    faults = []
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if not path.is_file():
            faults.append(f"{entry['name']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            faults.append(f"{entry['name']}: altered (SHA-256 differs)")
    return faults
