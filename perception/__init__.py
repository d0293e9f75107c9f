"""Perception: the models that look at images for the suite (CLIP, pose and hand estimators).

Neither a metric nor the core: metrics read images through these models, a method may too
(``controlnet_pose`` reads exemplar poses), and a benchmark's world brings its own. This package
holds the three registries, the types the models answer in (:class:`~.pose_backends.Pose`,
:class:`~.hand_backends.Hand`, :class:`~.clip_models.ClipBundle`) and the settings that choose them
(:class:`~.settings.ScorerConfig`, the run's ``[scorers]`` table).

Built-in entries are declared here lazily (name, module, one line), so naming a model imports
nothing heavy; a model's module registers itself with ``@CLIP_MODELS.register(name)`` (or
``POSE_BACKENDS``, ``HAND_BACKENDS``) when imported. A world registers its own models the same way
from its package (``actionbench/mini/__init__.py`` declares the mini CLIP and keypoint network), so
this layer names no world, no metric and no method (``tests/test_layers.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from actionbench.registry import Registry

if TYPE_CHECKING:
    from actionbench.perception.clip_models import ClipBundle
    from actionbench.perception.hand_backends import HandBackend
    from actionbench.perception.pose_backends import PoseBackend

# A CLIP factory takes (pretrained: str | None, device: str) and returns a ClipBundle.
CLIP_MODELS: Registry[Callable[..., ClipBundle]] = Registry("clip model")
POSE_BACKENDS: Registry[type[PoseBackend]] = Registry("pose backend")
HAND_BACKENDS: Registry[type[HandBackend]] = Registry("hand backend")

CLIP_MODELS.lazy("tiny-random", "actionbench.perception.clip_tiny",
                 "a small open_clip config with random weights (tests; numbers mean nothing)")
POSE_BACKENDS.lazy("mediapipe", "actionbench.perception.pose_mediapipe",
                   "mediapipe 0.10.21 Pose (legacy solutions API, model_complexity=1, offline)")
HAND_BACKENDS.lazy("mediapipe", "actionbench.perception.hands_mediapipe",
                   "mediapipe 0.10.21 Hands (legacy solutions API, static images, up to two hands, offline)")
