"""Hand landmark models behind one interface, by name: 21 points per hand, for the judge's hand-shape evidence.

A backend returns, per image, a list of hands (possibly empty), each with the 21 landmarks in pixel
coordinates of the original image, in mediapipe's order (0 wrist, 1-4 thumb, 5-8 index, 9-12
middle, 13-16 ring, 17-20 pinky; within a finger from the knuckle to the tip). Which body side a hand
belongs to is left to the caller (the judge decides it from the body pose).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

HAND_LANDMARKS = 21
DEFAULT_HAND_BACKEND = "mediapipe"  # the one the judge uses; photos only (the mini world draws no hands)


@dataclass(frozen=True)
class Hand:
    keypoints: np.ndarray  # (21, 2) float, x and y in pixels of the original image
    score: float  # the model's confidence that this is a hand


class HandBackend(ABC):
    name: str = ""
    # Names the model's exact version; cached hands are keyed by it (change it when the model changes).
    cache_tag: str | None = None

    @abstractmethod
    def estimate(self, images: list[Image.Image]) -> list[list[Hand]]:
        """One entry per image: the hands found in it (an empty list when none)."""


def hands_to_json(hands: list[Hand] | None) -> list[dict[str, Any]] | None:
    if hands is None:
        return None
    return [{"keypoints": h.keypoints.tolist(), "score": h.score} for h in hands]


def hands_from_json(data: list[dict[str, Any]] | None) -> list[Hand] | None:
    if data is None:
        return None
    return [Hand(keypoints=np.asarray(h["keypoints"], dtype=np.float64).reshape(HAND_LANDMARKS, 2),
                 score=float(h["score"])) for h in data]
