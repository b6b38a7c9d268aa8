"""Which model to run, decided quickly and said out loud.

Order: the path the user gave; weights in the models folders (the project's ``models/`` and
``FIRELANE_MODELS_DIR``); ultralytics' own download of ``yolo11n.pt`` when the internet answers within seconds;
otherwise the offline SSD with a warning. Nothing here may hang on a missing network.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from detector.backends import Detector, DetectorError, SsdDetector, YoloDetector, openvino_export
from detector.classes import ClassMap

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "yolo11n.pt"
SSD = "ssd-coco"


def model_candidates(folder: Path) -> list[Path]:
    """Weights in a folder, fastest format first: OpenVINO folders, then ONNX, then PyTorch."""
    if not folder.is_dir():
        return []
    openvino = sorted(p for p in folder.glob("*openvino_model") if p.is_dir() and any(p.glob("*.xml")))
    return openvino + sorted(folder.glob("*.onnx")) + sorted(folder.glob("*.pt"))


def network_available(host: str = "github.com", port: int = 443, timeout: float = 3.0) -> bool:
    if os.environ.get("FIRELANE_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def download_weights(name: str, folder: Path) -> Path | None:
    """Let ultralytics fetch its release weights into ``folder``; None when that is not possible."""
    if not network_available():
        return None
    from ultralytics.utils.downloads import attempt_download_asset

    folder.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("YOLO_OFFLINE")
    os.environ["YOLO_OFFLINE"] = "0"  # ultralytics refuses downloads while offline mode is set
    try:
        path = Path(attempt_download_asset(str(folder / name)))
    except Exception as error:
        log.warning("downloading %s failed: %s", name, error)
        return None
    finally:
        if previous is None:
            os.environ.pop("YOLO_OFFLINE", None)
        else:
            os.environ["YOLO_OFFLINE"] = previous
    return path if path.exists() else None


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def load_detector(
    model: str | None,
    *,
    models_dirs: Sequence[Path],
    imgsz: int = 1280,
    conf: float = 0.25,
    class_map: ClassMap | None = None,
    allow_download: bool = True,
    export_openvino: bool = True,
) -> Detector:
    class_map = class_map or ClassMap()
    if model == SSD:
        return SsdDetector(class_map=class_map)

    weights: Path | None = None
    if model:
        given = Path(model).expanduser()
        found = [d / given.name for d in models_dirs if (d / given.name).exists()]
        if given.exists():
            weights = given
        elif found:
            weights = found[0]
        elif allow_download and given.suffix == ".pt" and given.name.startswith("yolo"):
            weights = download_weights(given.name, models_dirs[0])
        if weights is None:
            where = ", ".join(str(d) for d in models_dirs)
            raise DetectorError(f"model {model!r} not found (looked in {where}) and it could not be downloaded")
    else:
        for folder in models_dirs:
            candidates = model_candidates(folder)
            if candidates:
                weights = candidates[0]
                break
        if weights is None and allow_download:
            weights = download_weights(DEFAULT_WEIGHTS, models_dirs[0])
        if weights is None:
            log.warning(
                "no YOLO weights in %s and no internet to download %s: using the offline SSD-MobileNet-v2 "
                "detector, which misses many small or distant vehicles. Place a YOLO model in models/ for real use.",
                ", ".join(str(d) for d in models_dirs),
                DEFAULT_WEIGHTS,
            )
            return SsdDetector(class_map=class_map)

    if weights.suffix == ".pt" and export_openvino and _writable(weights.parent):
        weights = openvino_export(weights, imgsz)
    log.info("detector: %s (imgsz %d)", weights, imgsz)
    return YoloDetector(weights, imgsz=imgsz, conf=conf, class_map=class_map)
