"""An image that shows nothing: a flat image shows no action and no subject, whatever CLIP's argmax says.

The judge's CLIP path is an argmax over the benchmark's actions (and the protocol's subjects), so it
names one for every image, a flat grey one included: the ``blank`` control was "doing" one action in
eight and showed the prompted subject one time in ten. On the mini world the keypoint network's
presence head finds no figure in such an image; on photo benchmarks mediapipe finds people only, so
before judge version 3 nothing kept a blank image from CLIP. Flatness needs no weights, so its false
rejections can be measured here: the spread of the image's luminance, in grey levels (0-255).

Measured 2026-11-26 (docs/judge.md): the lowest spread among real photos is 22.4 (the official
ActionBench's 80 exemplars; the 60 yoga photos 28.1, the 10 COCO photos 29.1), among the mini world's
generated images of 19 methods 14.1 (4,590 images; ``blank``'s are 0.0). The threshold, 2 grey levels,
lies 7x below every generated image and 11x below every photo, and above a flat image saved as JPEG or
carrying a grey level of noise (``tests/test_metric_flat.py``). A flat image with more noise than that, or
a smooth colour ramp, is not caught: such images still go to CLIP.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FLAT_SPREAD = 2.0  # grey levels of luminance standard deviation below which an image shows nothing


def luminance_spread(image: Image.Image) -> float:
    """The standard deviation of the image's luminance (PIL's "L", 0-255) over its pixels."""
    return float(np.asarray(image.convert("L"), dtype=np.float64).std())


def shows_nothing(image: Image.Image, threshold: float = FLAT_SPREAD) -> bool:
    """Whether ``image`` is flat: no figure, no action and no subject can be shown in it."""
    return luminance_spread(image) < threshold
