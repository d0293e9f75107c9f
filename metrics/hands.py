"""Hand landmarks: mediapipe's hand model, 21 points per hand, for the judge's hand-shape evidence.

Body joints alone cannot tell a raised index finger (``gesture``) from a flat hand at the brow
(``salute``) or palms pressed together (``pray``). mediapipe 0.10.21's wheel ships the palm
detection and hand landmark models of the legacy solutions API, so ``mp.solutions.hands.Hands`` works
offline (``static_image_mode=True``: every image is detected afresh, no tracking between images).

A detector returns, per image, a list of hands (possibly empty), each with the 21 landmarks in
pixel coordinates of the original image (mediapipe's order: 0 wrist, 1-4 thumb, 5-8 index,
9-12 middle, 13-16 ring, 17-20 pinky; within a finger from the knuckle to the tip). Which body
side a hand belongs to is decided by the judge from the body pose (:mod:`.judge_features`), not by
mediapipe's handedness label, which assumes a mirrored selfie camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from actionbench.metrics.pose_mediapipe import mediapipe_pixels

HAND_LANDMARKS = 21
MIN_DETECTION_CONFIDENCE = 0.5  # mediapipe's default
MODEL_COMPLEXITY = 1  # the "full" landmark model; both shipped models work offline


@dataclass(frozen=True)
class Hand:
    keypoints: np.ndarray  # (21, 2) float, x and y in pixels of the original image
    score: float  # mediapipe's confidence that this is a hand


class MediapipeHands:
    """mediapipe 0.10.21 Hands (legacy solutions API, static images, up to two hands, offline)."""

    name = "mediapipe-hands"

    def __init__(self, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
                 model_complexity: int = MODEL_COMPLEXITY):
        import mediapipe as mp

        self._model = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                               model_complexity=model_complexity,
                                               min_detection_confidence=min_detection_confidence)
        # Cached hands are keyed by this: another mediapipe, model or threshold means other hands.
        self.cache_tag = f"mediapipe-{mp.__version__}-hands-c{model_complexity}-d{min_detection_confidence:g}"

    def estimate(self, images: list[Image.Image]) -> list[list[Hand]]:
        return [self._estimate_one(image) for image in images]

    def _estimate_one(self, image: Image.Image) -> list[Hand]:
        width, height = image.size
        pixels = mediapipe_pixels(image)
        if pixels is None:
            return []
        result = self._model.process(pixels)
        if not result.multi_hand_landmarks:
            return []
        hands = []
        for landmarks, handedness in zip(result.multi_hand_landmarks, result.multi_handedness):
            xy = np.array([[p.x, p.y] for p in landmarks.landmark], dtype=np.float64)
            hands.append(Hand(keypoints=xy * np.array([width, height], dtype=np.float64),
                              score=float(handedness.classification[0].score)))
        return hands

    def close(self) -> None:
        self._model.close()


def hands_to_json(hands: list[Hand] | None) -> list[dict[str, Any]] | None:
    if hands is None:
        return None
    return [{"keypoints": h.keypoints.tolist(), "score": h.score} for h in hands]


def hands_from_json(data: list[dict[str, Any]] | None) -> list[Hand] | None:
    if data is None:
        return None
    return [Hand(keypoints=np.asarray(h["keypoints"], dtype=np.float64).reshape(HAND_LANDMARKS, 2),
                 score=float(h["score"])) for h in data]
