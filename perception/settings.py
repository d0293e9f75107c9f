"""Which perception models a run looks through: the ``[scorers]`` table of a config file.

``--set scorers.KEY=VALUE`` sets one; a benchmark's ``defaults.scorers`` fills what is unset (the
mini world names its own CLIP and keypoint network). The resolved values land in the run manifest
and in every score key, with the chosen models' versions (:func:`scorer_versions`), so that new
weights under the same name re-score a resumed run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ScorerConfig:
    """The models that metrics use to look at images. ``None`` means: the benchmark's default."""

    clip_model: str | None = None  # an open_clip model name, "tiny-random", or a local checkpoint
    clip_pretrained: str | None = None  # open_clip's pretrained tag or a local weights file
    pose_backend: str | None = None  # "mediapipe" for photos; a benchmark may bring its own
    batch_size: int = 16
    device: str = "auto"


def scorer_versions(scorers: ScorerConfig) -> dict[str, str | None]:
    """The versions of the models ``scorers`` chooses, found without loading them (None: the name in
    ``scorers`` is all that identifies the model)."""
    from actionbench.perception import POSE_BACKENDS
    from actionbench.perception.clip_models import clip_model_version
    from actionbench.perception.pose_backends import DEFAULT_POSE_BACKEND

    pose_version = getattr(POSE_BACKENDS.get(scorers.pose_backend or DEFAULT_POSE_BACKEND), "model_version", None)
    return {"pose": pose_version() if callable(pose_version) else None,  # a plugin may not derive PoseBackend
            "clip": clip_model_version(scorers)}
