"""Images as the rater gets them: re-encoded PNG pixels, nothing else (no file name, text chunks or EXIF)."""

from __future__ import annotations

import functools
import io
from pathlib import Path

EXEMPLAR_PX = 320  # exemplars are shown small beside the image; larger photos are scaled down


@functools.lru_cache(maxsize=512)
def _png(path: str, max_px: int | None, mtime: float) -> bytes:
    """The image at ``path`` as a fresh PNG: pixels only (no name, no text chunks, no EXIF)."""
    from actionbench.imageio import open_rgb

    image = open_rgb(path)
    if max_px:
        image.thumbnail((max_px, max_px))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_bytes(path: Path, max_px: int | None = None) -> bytes:
    return _png(str(path), max_px, path.stat().st_mtime)
