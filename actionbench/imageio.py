"""Opening images safely: any file a user hands the suite becomes an RGB image or one clear error.

Handles EXIF orientation, grayscale, palette, CMYK, 16-bit and alpha (composited on white), and
refuses truncated, empty, non-image and decompression-bomb files with a one-line reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from actionbench.errors import ActionBenchError

MAX_PIXELS = 64_000_000  # about 8000 x 8000; larger files are refused as possible decompression bombs
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def open_rgb(path: str | Path) -> Image.Image:
    """Read ``path`` fully and return it as an 8-bit RGB image, upright per its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise ActionBenchError(f"image {path} does not exist", "check the path")
    if path.stat().st_size == 0:
        raise ActionBenchError(f"image {path} is empty (0 bytes)", "replace it with a valid image")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                upright = ImageOps.exif_transpose(image)
                return to_rgb(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ActionBenchError(f"image {path} has more than {MAX_PIXELS:,} pixels (refused as a possible "
                               "decompression bomb)", f"downscale it below {MAX_PIXELS:,} pixels") from error
    except UnidentifiedImageError as error:
        raise ActionBenchError(f"{path} is not an image file", "remove it or convert it to JPEG or PNG") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ActionBenchError(f"image {path} cannot be read ({_one_line(error)})",
                               "the file is truncated or corrupt; replace it") from error
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparent pixels become white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:160]
