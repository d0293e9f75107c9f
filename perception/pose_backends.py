"""Pose estimators behind one interface, by name: ``mediapipe`` for photos, ``mini`` for the mini world.

A backend returns, per image, the 17 COCO body joints in pixel coordinates with a visibility in
[0, 1], or None when it finds no person. Metrics use whichever backend the run's scorer config
names (``POSE_BACKENDS`` in :mod:`actionbench.perception`), and never special-case one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

DEFAULT_POSE_BACKEND = "mediapipe"  # when neither the run nor its benchmark names one (photos)

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")


@dataclass(frozen=True)
class Pose:
    keypoints: np.ndarray  # (17, 2) float, x and y in pixels, COCO-17 order
    visibility: np.ndarray  # (17,) float in [0, 1]
    image_size: tuple[int, int]  # (width, height)


class PoseBackend(ABC):
    name: str = ""
    # Names the model's exact version (e.g. "mediapipe-0.10.21-c1-d0.5"). When set, exemplar poses
    # are cached on disk under it; change it whenever the model's weights change. None: memory only.
    cache_tag: str | None = None
    # True when the model finds the figure of every subject a benchmark asks for (the mini world's
    # keypoint network is trained on all its species; mediapipe finds people only). Then an image in
    # which it finds no figure shows no action, and the judge has no reason to ask CLIP instead.
    reads_every_subject: bool = False

    @classmethod
    def model_version(cls) -> str | None:
        """The model's version, found without loading it (a weights file's hash, a package's version).
        Runs key their scores on it, so upgraded weights re-score a resumed run instead of mixing old
        and new scores on one board. None: the backend's name is all that identifies it."""
        return None

    @abstractmethod
    def estimate(self, images: list[Image.Image]) -> list[Pose | None]:
        """One entry per image: its pose, or None when no person is found."""


def pose_to_json(pose: Pose | None) -> dict[str, Any] | None:
    if pose is None:
        return None
    return {"keypoints": pose.keypoints.tolist(), "visibility": pose.visibility.tolist(),
            "image_size": list(pose.image_size)}


def pose_from_json(data: dict[str, Any] | None) -> Pose | None:
    if data is None:
        return None
    return Pose(keypoints=np.asarray(data["keypoints"], dtype=np.float64).reshape(-1, 2),
                visibility=np.asarray(data["visibility"], dtype=np.float64),
                image_size=tuple(data["image_size"]))
