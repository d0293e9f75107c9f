"""mediapipe's pose model as a pose backend: 33 BlazePose landmarks mapped to the 17 COCO body joints.

Only mediapipe 0.10.21's legacy solutions API works offline (its wheel ships the model of
``model_complexity=1``; complexities 0 and 2 and the Tasks API download their models). The model is
single-person: in a crowded photo it reports one person, not always the largest.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from actionbench.perception import POSE_BACKENDS
from actionbench.perception.pose_backends import Pose, PoseBackend

# BlazePose landmark index of each COCO-17 joint, in COCO order (nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles). Both name left and right from the person's point of view.
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MAX_SIDE = 1024  # larger images are downscaled first: the model itself looks at 256 px crops
MIN_SIDE = 16  # smaller images cannot show a person; they are reported as "no person"


def mediapipe_pixels(image: Image.Image) -> np.ndarray | None:
    """The RGB uint8 array mediapipe's legacy solutions read, downscaled to at most MAX_SIDE (landmarks
    come back normalised, so the scale needs no undoing); None when the image is too small to show
    anyone. Shared by the pose and hand models."""
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        return None
    scale = min(1.0, MAX_SIDE / max(width, height))
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
FRAME_MARGIN = 0.02  # a landmark further than this (fraction of the side) outside the frame is invisible


@POSE_BACKENDS.register("mediapipe")
class MediapipePose(PoseBackend):
    """mediapipe 0.10.21 Pose (legacy solutions API, model_complexity=1, static images, offline)."""

    name = "mediapipe"

    @classmethod
    def model_version(cls) -> str | None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"mediapipe-{version('mediapipe')}"  # its pose models ship inside the wheel
        except PackageNotFoundError:
            return None

    def __init__(self, min_detection_confidence: float = 0.5):
        import mediapipe as mp

        self._model = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                             enable_segmentation=False,
                                             min_detection_confidence=min_detection_confidence)
        # Cached poses are keyed by this: a different mediapipe or threshold means other poses.
        self.cache_tag = f"mediapipe-{mp.__version__}-c1-d{min_detection_confidence:g}"

    def estimate(self, images: list[Image.Image]) -> list[Pose | None]:
        return [self._estimate_one(image) for image in images]

    def _estimate_one(self, image: Image.Image) -> Pose | None:
        width, height = image.size
        pixels = mediapipe_pixels(image)
        if pixels is None:
            return None
        result = self._model.process(pixels)
        if result.pose_landmarks is None:
            return None
        landmarks = result.pose_landmarks.landmark
        xy = np.array([[landmarks[i].x, landmarks[i].y] for i in BLAZEPOSE_TO_COCO17], dtype=np.float64)
        visibility = np.array([landmarks[i].visibility for i in BLAZEPOSE_TO_COCO17], dtype=np.float64)
        outside = np.any((xy < -FRAME_MARGIN) | (xy > 1 + FRAME_MARGIN), axis=1)
        visibility[outside] = 0.0
        keypoints = xy * np.array([width, height], dtype=np.float64)  # normalised -> original pixels
        return Pose(keypoints=keypoints, visibility=np.clip(visibility, 0.0, 1.0), image_size=(width, height))

    def close(self) -> None:
        self._model.close()
