"""Where the person is: mediapipe's selfie segmentation (shipped in the 0.10.21 wheel, offline).

:func:`person_weight` is a per-pixel probability of "person" in [0, 1] at the image's size. The
model is trained on people and fires on other large foreground objects too (on scikit-image's cat
photo it marks 91% of the pixels), so it is trusted only where the pose model also finds a person;
elsewhere the weight is 0 everywhere.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from actionbench.metrics.base import ScoringContext
from actionbench.perception.pose_backends import Pose

MODEL_SELECTION = 0  # the general (square, 256 x 256) model rather than the landscape one


class PersonSegmenter:
    """mediapipe SelfieSegmentation(model_selection=0): a person probability per pixel."""

    def __init__(self):
        import mediapipe as mp

        self._model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=MODEL_SELECTION)

    def mask(self, image: Image.Image) -> np.ndarray:
        """(height, width) float32 in [0, 1]."""
        width, height = image.size
        if min(width, height) < 2:
            return np.zeros((height, width), dtype=np.float32)
        result = self._model.process(np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8)))
        return np.clip(np.nan_to_num(np.asarray(result.segmentation_mask, dtype=np.float32)), 0.0, 1.0)

    def close(self) -> None:
        self._model.close()


def segmenter(context: ScoringContext) -> PersonSegmenter:
    """The segmentation model, loaded once per process."""
    key = ("person_segmenter",)
    if key not in context.shared:
        context.shared[key] = PersonSegmenter()
    return context.shared[key]


def person_weight(context: ScoringContext, image: Image.Image, pose: Pose | None) -> np.ndarray:
    """The person probability per pixel of ``image`` where ``pose`` (the pose model's finding in the
    same image) is a person, else zeros."""
    if pose is None:
        return np.zeros((image.size[1], image.size[0]), dtype=np.float32)
    return segmenter(context).mask(image)
