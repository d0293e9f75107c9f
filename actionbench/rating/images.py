"""Images as the rater gets them: re-encoded PNG pixels, nothing else (no file name, text chunks or EXIF).

An image of the run is only ever read from inside the run directory: a file reached through a
symlink (or a ``..`` in a recorded file name) that leads elsewhere is refused, so a planted link
cannot put another file of the machine in front of a rater or into an exported study.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.fileio import resolve_under

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


class OutsideRun(ActionBenchError):
    """An image whose real location (symlinks followed) is not inside the run directory."""


def inside(path: Path, folder: Path) -> Path:
    """``path`` with every symlink followed, or ``OutsideRun`` when that leaves ``folder`` (itself resolved,
    so a run reached through a link such as ``runs/latest`` still counts as itself)."""
    real, stays = resolve_under(path, folder)
    if not stays:
        raise OutsideRun(f"{path} leads outside the run directory {folder} (to {real})",
                         "replace the link with the image itself, or regenerate it with 'actionbench run'")
    return real


def png_bytes(path: Path, max_px: int | None = None, within: Path | None = None) -> bytes:
    """``path`` re-encoded; with ``within``, only if it really lies inside that folder."""
    real = inside(path, within) if within is not None else Path(path)
    try:
        mtime = real.stat().st_mtime
    except OSError:
        mtime = 0.0  # open_rgb says what is wrong with it
    return _png(str(real), max_px, mtime)
