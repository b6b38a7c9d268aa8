"""All configuration in one pydantic-settings object: FIRELANE_* environment variables or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from detector.classes import DEFAULT_OBSTACLES, DEFAULT_VEHICLES, ClassMap

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIRELANE_", env_file=".env", extra="ignore")

    out_dir: Path = Path("firelane-out")
    database_url: str | None = Field(None, description="default: a SQLite file in the output folder")
    models_dir: Path | None = Field(None, description="extra folder searched for weights after the project's models/")
    model: str | None = Field(None, description="weights path or name, or 'ssd-coco'; default: resolved")
    imgsz: int = Field(1280, ge=64, le=4096, description="inference size; cars seen from high cameras are small")
    conf: float = Field(0.25, gt=0, lt=1)
    fps: float = Field(2.0, gt=0, le=60, description="frames sampled per second of video")
    allow_download: bool = True
    export_openvino: bool = True
    clip_pre_s: float = Field(8.0, ge=0)
    clip_post_s: float = Field(8.0, ge=0)
    font: Path | None = None
    vehicle_classes: list[str] = list(DEFAULT_VEHICLES)
    obstacle_classes: list[str] = list(DEFAULT_OBSTACLES)

    @property
    def models_dirs(self) -> list[Path]:
        dirs = [PROJECT_ROOT / "models"]
        if self.models_dir:
            dirs.append(self.models_dir.expanduser())
        return dirs

    def class_map(self) -> ClassMap:
        default = ClassMap()
        vehicles, obstacles = frozenset(self.vehicle_classes), frozenset(self.obstacle_classes)
        return ClassMap(vehicles, obstacles, default.known - vehicles - obstacles)

    def database_url_for(self, out_dir: Path) -> str:
        return self.database_url or f"sqlite:///{(out_dir / 'firelane.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
