"""Hand landmarks: mediapipe's hand model, 21 points per hand, for the judge's hand-shape evidence.

Body joints alone cannot tell a raised index finger (``gesture``) from a flat hand at the brow
(``salute``) or palms pressed together (``pray``). mediapipe 0.10.21's wheel ships the palm
detection and hand landmark models of the legacy solutions API, so ``mp.solutions.hands.Hands`` works
offline (``static_image_mode=True``: every image is detected afresh, no tracking between images).

Registered as the ``mediapipe`` hand backend (:mod:`.hand_backends`: 21 landmarks per hand in
mediapipe's order, in pixels of the original image). Which body side a hand belongs to is decided by
the judge from the body pose (``actionbench.metrics.judge_features``), not by mediapipe's
handedness label, which assumes a mirrored selfie camera.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from actionbench.perception import HAND_BACKENDS
from actionbench.perception.hand_backends import Hand, HandBackend
from actionbench.perception.pose_mediapipe import mediapipe_pixels

MIN_DETECTION_CONFIDENCE = 0.5  # mediapipe's default
MODEL_COMPLEXITY = 1  # the "full" landmark model; both shipped models work offline


@HAND_BACKENDS.register("mediapipe")
class MediapipeHands(HandBackend):
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

