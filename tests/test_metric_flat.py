"""An image that shows nothing (metrics/flat.py): flat images are caught, no real photo ever is.

The threshold is measured, not tuned: every photo beside the project (the official ActionBench's
exemplars, the yoga poses, the crowded COCO photos) and the mini world's exemplars must lie far
above it (the mini world's generated images were measured: docs/judge.md); flat images, as a PNG or
a JPEG or with a grey level of noise, below it. The judge then gives a flat image no action and no subject even where CLIP's argmax names
the prompted ones (the cheapest way to fool it: tests/test_metric_judge.py).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from actionbench.metrics.flat import FLAT_SPREAD, luminance_spread, shows_nothing
from conftest import shared_path
from metric_helpers import solid, textured

PHOTO_MARGIN = 10  # every real photo lies at least this many times above the threshold


def as_jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_flat_images_show_nothing():
    grey = solid((128, 128, 128))
    noise = np.random.default_rng(0).normal(0.0, 1.0, (64, 64, 3))  # one grey level of noise
    noisy = Image.fromarray(np.clip(np.asarray(grey, dtype=np.float64) + noise, 0, 255).round().astype(np.uint8))
    for image in (grey, solid((200, 30, 30)), as_jpeg(grey), noisy, solid((0, 0, 0), (7, 5))):
        assert shows_nothing(image), luminance_spread(image)
    assert luminance_spread(grey) == 0.0


def test_pictures_show_something():
    for picture in (data.astronaut(), data.coffee(), data.chelsea(), data.camera()):
        assert luminance_spread(Image.fromarray(picture)) > PHOTO_MARGIN * FLAT_SPREAD
    assert not shows_nothing(textured((128, 128, 128)))
    assert shows_nothing(textured((128, 128, 128)), threshold=1000.0)  # the threshold is what decides


@pytest.mark.parametrize("folder, pattern", [("actionbench", "*/*.jpg"), ("actions", "*/*.jpg"), ("photos", "*.jpg")])
def test_no_real_photo_is_flat(folder, pattern):
    paths = sorted(shared_path(folder).glob(pattern))
    assert len(paths) >= 10
    spreads = {path.name: luminance_spread(Image.open(path)) for path in paths}
    lowest = min(spreads, key=spreads.__getitem__)
    assert spreads[lowest] > PHOTO_MARGIN * FLAT_SPREAD, (lowest, spreads[lowest])


def test_no_mini_render_is_flat():
    """The mini world's exemplars (renders: figures in scenes) are far from flat too."""
    from actionbench.mini.benchmark import load_mini_benchmark

    benchmark = load_mini_benchmark()
    spreads = [luminance_spread(Image.open(e.image_path)) for a in benchmark.actions.values() for e in a.exemplars]
    assert len(spreads) == 80 and min(spreads) > 5 * FLAT_SPREAD
