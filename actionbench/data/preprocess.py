"""Exemplar preprocessing: the one documented policy that turns a photo into a square training image.

Policy "pad" (our choice; the paper does not state its own): orient by EXIF, convert to RGB, fit
the whole photo inside a square by padding the short side with the mean colour of the photo's
border, then resize to the model's resolution with Lanczos. Padding rather than cropping keeps
the whole body in view, which matters for portrait photos of handstands and sitting poses.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from actionbench.data.model import Exemplar
from actionbench.imageio import open_rgb

POLICY = "pad-border-mean+lanczos"


def pad_to_square(image: Image.Image) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    array = np.asarray(image)
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    fill = tuple(int(round(c)) for c in border.mean(axis=0))
    side = max(width, height)
    square = Image.new("RGB", (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def square_image(image: Image.Image, size: int) -> Image.Image:
    return pad_to_square(image).resize((size, size), Image.Resampling.LANCZOS)


def exemplar_image(exemplar: Exemplar, size: int) -> Image.Image:
    """The exemplar as a ``size`` x ``size`` RGB image under :data:`POLICY`."""
    return square_image(open_rgb(exemplar.image_path), size)
