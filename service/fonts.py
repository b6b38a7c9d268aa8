"""Find a font that can draw Chinese: OpenCV's putText cannot, and users read camera and zone names in Chinese."""

from __future__ import annotations

import importlib.metadata
import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

ENV_VAR = "FIRELANE_FONT"
PIP_PACKAGE = "cvttf-notosanscjk-regular"
_PACKAGE_FONT = "cvttf_NotoSansCJK_Regular/NotoSansCJKtc-Regular.otf"

# Debian/Ubuntu packages fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei (and the usual Fedora paths).
SYSTEM_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)


class FontNotFoundError(FileNotFoundError):
    """No CJK font: overlays would show empty boxes instead of Chinese names."""


def _package_font() -> Path | None:
    """The font shipped by the pip package; located without importing it (it is only a data carrier)."""
    try:
        path = Path(str(importlib.metadata.distribution(PIP_PACKAGE).locate_file(_PACKAGE_FONT)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def find_cjk_font(explicit: str | Path | None = None) -> Path:
    """Explicit path, then ``$FIRELANE_FONT``, then system CJK fonts, then the pip-packaged Noto Sans CJK."""
    for source, value in (("font path", explicit), (f"${ENV_VAR}", os.environ.get(ENV_VAR) or None)):
        if value is not None:
            path = Path(value).expanduser()
            if not path.is_file():
                raise FontNotFoundError(f"{source} {str(path)!r} does not exist")
            return path
    for path in SYSTEM_FONTS:
        if path.is_file():
            return path
    packaged = _package_font()
    if packaged is not None:
        return packaged
    raise FontNotFoundError(
        f"no CJK font found: pip install {PIP_PACKAGE}, install fonts-noto-cjk, "
        f"or set ${ENV_VAR} to a .ttf/.otf/.ttc that covers Chinese"
    )


def _face_index(path: Path) -> int:
    """In a collection (.ttc) prefer the Simplified Chinese face (Noto's is not the first one)."""
    if path.suffix.lower() != ".ttc":
        return 0
    for index in range(16):
        try:
            family = ImageFont.truetype(str(path), 12, index=index).getname()[0] or ""
        except OSError:
            break
        if "SC" in family.split():
            return index
    return 0


@lru_cache(maxsize=64)
def _load(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=_face_index(path))


def load_font(size: int, path: str | Path | None = None) -> ImageFont.FreeTypeFont:
    """A CJK font of ``size`` pixels, cached per (resolved path, size) since a 16 MB font is slow to open."""
    if size < 1:
        raise ValueError(f"font size must be positive, got {size}")
    return _load(find_cjk_font(path).resolve(), int(size))
