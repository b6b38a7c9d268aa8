"""Zone files: one JSON (or YAML) file per camera, validated before anything runs.

Every fault is reported with the zone it belongs to, so an operator can fix the file in one pass.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import shapely
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from detector.classes import COCO_NAMES
from detector.detections import CATEGORIES
from zones.calibration import GroundCalibration
from zones.schedule import Schedule

ZoneKind = Literal["fire_lane", "rescue_site", "no_parking"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# Bounds that keep every later computation finite: times become timedeltas, a frame size becomes an image
# (heat maps), and names and ids are stored in columns of these lengths (service.db.models).
MAX_SECONDS = 7 * 86400
MIN_FRAME_SIDE, MAX_FRAME_SIDE = 16, 16384
MAX_POINTS = 1000
MAX_ZONES = 100
MAX_NAME = 256
MAX_ACTIVE = 256
MAX_CLASSES = 100
MAX_CLASS_NAME = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    """Names go into overlays, reports and database columns (PostgreSQL refuses NUL)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


FrameSide = Annotated[int, Field(ge=MIN_FRAME_SIDE, le=MAX_FRAME_SIDE)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
Label = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_no_control_characters)]


class ZoneFileError(ValueError):
    """A zone file that cannot be used; ``problems`` lists every fault found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class ZoneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str
    name: Label = ""
    kind: ZoneKind = "fire_lane"
    polygon: list[tuple[float, float]] = Field(max_length=MAX_POINTS)
    grace_s: Seconds = 180.0
    classes: list[Annotated[str, Field(max_length=MAX_CLASS_NAME)]] = Field(
        default_factory=lambda: list(CATEGORIES), max_length=MAX_CLASSES
    )
    min_overlap: float = Field(0.3, gt=0, le=1)
    leave_s: Seconds = 30.0
    active: str = Field("00:00-24:00", max_length=MAX_ACTIVE)
    # calibration on the ground, for the clear width left (zones.calibration.GroundCalibration.from_json)
    ground: dict[str, Any] | None = None

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not _SAFE_ID.match(value):
            raise ValueError("id must be 1-128 characters of letters, digits, '-', '_' or '.'")
        return value


class CameraZonesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    camera_id: str
    camera_name: Label = ""
    frame_size: tuple[FrameSide, FrameSide]
    units: Literal["px", "relative"] = "px"
    timezone: str = Field("Asia/Shanghai", max_length=64)
    imgsz: int | None = Field(None, ge=64, le=4096, description="inference size for this camera")
    zones: list[ZoneSpec] = Field(max_length=MAX_ZONES)

    @field_validator("camera_id")
    @classmethod
    def _safe_camera_id(cls, value: str) -> str:
        if not _SAFE_ID.match(value):
            raise ValueError("camera_id must be 1-128 characters of letters, digits, '-', '_' or '.'")
        return value


@dataclass(frozen=True)
class Zone:
    """A validated zone, its polygon in pixels of the frames actually received."""

    id: str
    name: str
    kind: str
    polygon: Polygon
    grace_s: float
    classes: frozenset[str]
    min_overlap: float
    leave_s: float
    schedule: Schedule
    ground: GroundCalibration | None = None  # calibrated: occupants' clear width in metres is measured

    def accepts(self, class_name: str, category: str) -> bool:
        return category in self.classes or class_name in self.classes


@dataclass(frozen=True)
class CameraZones:
    camera_id: str
    camera_name: str
    frame_size: tuple[int, int]
    timezone: ZoneInfo
    imgsz: int | None
    zones: tuple[Zone, ...]

    def scaled_to(self, width: int, height: int) -> CameraZones:
        """Zones drawn on a snapshot of one size still fit frames of another (sub-stream, resized export)."""
        if (width, height) == self.frame_size:
            return self
        sx, sy = width / self.frame_size[0], height / self.frame_size[1]
        zones = tuple(
            Zone(**{**z.__dict__, "polygon": shapely.affinity.scale(z.polygon, sx, sy, origin=(0, 0)),
                    "ground": z.ground.scaled(sx, sy) if z.ground is not None else None})
            for z in self.zones
        )
        return CameraZones(self.camera_id, self.camera_name, (width, height), self.timezone, self.imgsz, zones)


def _zone_label(raw: dict, index: int) -> str:
    """The zone's id when it has a printable one (a megabyte-long id is not quoted back), else its number."""
    zones = raw.get("zones")
    zone = zones[index] if isinstance(zones, list) and index < len(zones) else None
    zone_id = zone.get("id") if isinstance(zone, dict) else None
    if isinstance(zone_id, str) and len(zone_id) <= 128:
        return f"zone {zone_id!r}"
    return f"zone #{index + 1}"


def _pydantic_problems(raw: dict, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = list(item["loc"])
        where = "file"
        if len(loc) >= 2 and loc[0] == "zones" and isinstance(loc[1], int):
            where = _zone_label(raw, loc[1])
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "value"
        problems.append(f"{where}: {field}: {item['msg'].removeprefix('Value error, ')}")
    return problems


def _polygon_problems(zone: ZoneSpec, frame_size: tuple[int, int], units: str) -> list[str]:
    where = f"zone {zone.id!r}"
    points = zone.polygon
    if len(points) < 3:
        return [f"{where}: polygon needs at least 3 points, got {len(points)}"]
    limit_w, limit_h = (1.0, 1.0) if units == "relative" else (float(frame_size[0]), float(frame_size[1]))
    outside = [p for p in points if not (0 <= p[0] <= limit_w and 0 <= p[1] <= limit_h)]
    problems = []
    if outside:
        frame = "0..1" if units == "relative" else f"{frame_size[0]}x{frame_size[1]}"
        problems.append(f"{where}: points outside the frame ({frame}): {outside[:3]}")
    polygon = Polygon(points)
    if not polygon.is_valid:
        problems.append(f"{where}: polygon is invalid ({explain_validity(polygon)}); is it self-intersecting?")
    elif polygon.area <= 0:
        problems.append(f"{where}: polygon has no area")
    return problems


def parse_zones(raw: object, source: str = "zone file") -> CameraZones:
    """Validate a decoded zone file; raise ``ZoneFileError`` listing every fault."""
    if not isinstance(raw, dict):
        raise ZoneFileError(source, ["top level must be an object with camera_id, frame_size and zones"])
    try:
        spec = CameraZonesSpec.model_validate(raw)
    except ValidationError as error:
        raise ZoneFileError(source, _pydantic_problems(raw, error)) from None

    problems = []
    width, height = spec.frame_size
    try:
        tz = ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"file: unknown timezone {spec.timezone!r}")
        tz = ZoneInfo("UTC")
    if not spec.zones:
        problems.append("file: no zones defined")
    allowed = set(CATEGORIES) | set(COCO_NAMES)
    seen_ids: set[str] = set()
    zones = []
    for zone in spec.zones:
        where = f"zone {zone.id!r}"
        if zone.id in seen_ids:
            problems.append(f"{where}: duplicate zone id")
        seen_ids.add(zone.id)
        unknown = sorted(set(zone.classes) - allowed)
        if unknown:
            problems.append(f"{where}: unknown classes {unknown} (use vehicle, obstacle, obstruction or COCO class names)")
        if not zone.classes:
            problems.append(f"{where}: classes is empty")
        try:
            schedule = Schedule.parse(zone.active)
        except ValueError as error:
            problems.append(f"{where}: active: {error}")
            schedule = Schedule(((0, 1440),))
        polygon_faults = _polygon_problems(zone, spec.frame_size, spec.units)
        problems.extend(polygon_faults)
        if not polygon_faults:
            scale = (width, height) if spec.units == "relative" else (1, 1)
            polygon = Polygon([(x * scale[0], y * scale[1]) for x, y in zone.polygon])
            ground = None
            if zone.ground is not None:
                try:
                    ground = GroundCalibration.from_json(zone.ground).scaled(*scale)
                    ground.lane(polygon)  # every zone point must lie on the calibrated ground, before the horizon
                except ValueError as error:
                    problems.append(f"{where}: ground: {error}")
            zones.append(
                Zone(
                    id=zone.id,
                    name=zone.name or zone.id,
                    kind=zone.kind,
                    polygon=polygon,
                    grace_s=zone.grace_s,
                    classes=frozenset(zone.classes),
                    min_overlap=zone.min_overlap,
                    leave_s=zone.leave_s,
                    schedule=schedule,
                    ground=ground,
                )
            )
    if problems:
        raise ZoneFileError(source, problems)
    return CameraZones(
        camera_id=spec.camera_id,
        camera_name=spec.camera_name or spec.camera_id,
        frame_size=(width, height),
        timezone=tz,
        imgsz=spec.imgsz,
        zones=tuple(zones),
    )


def load_zones(path: str | Path) -> CameraZones:
    """Read a zone file (.json, .yaml or .yml) and validate it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ZoneFileError(str(path), [f"cannot read file: {error.strerror or error}"]) from None
    try:
        raw = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as error:
        kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"
        raise ZoneFileError(str(path), [f"not valid {kind}: {error}"]) from None
    return parse_zones(raw, str(path))
