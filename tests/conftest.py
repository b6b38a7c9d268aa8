"""Shared fixtures: real footage and models from ../shared (never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FIRELANE_SHARED", REPO.parent / "shared"))


def _require(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI runs with ../shared beside the checkout")
        pytest.skip(f"{path} not present (set FIRELANE_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require(SHARED / "data")


@pytest.fixture(scope="session")
def yolo():
    """YOLO11n int8 (OpenVINO) at imgsz 1280, loaded once: compiling this dynamic int8 model takes a while."""
    from detector.backends import YoloDetector

    return YoloDetector(_require(SHARED / "models" / "yolo11n_int8_openvino_model"), imgsz=1280)


@pytest.fixture(scope="session")
def ssd():
    from detector.backends import SsdDetector

    return SsdDetector()
