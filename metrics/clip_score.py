"""``clip``: CLIP agreement of a generated image with the action, in words (CLIP-T) and in pictures (CLIP-I).

With E_I, E_T the unit-length CLIP image and text embeddings (the run's CLIP model)::

    clip_t(x) = cos(E_I(x), E_T(prompt with the action written out in words))
    clip_i(x) = mean_j cos(E_I(x), E_I(e_j))        over the action's exemplar photos e_j

CLIP-T is the standard text-image CLIP score: torchmetrics' ``CLIPScore`` is
``max(100 * clip_t, 0)`` (tested equal on the same model). The prompt is the protocol prompt with
``{action}`` replaced by the action's description, so a method is judged on what was asked of it
("a cat" + "raising both arms overhead in celebration"), whatever token it used. CLIP-I averages
over the exemplars as DreamBooth's CLIP-I does (the ``reduction="max"`` setting takes the nearest
exemplar instead). A high CLIP-I can also mean copied appearance; read it beside ``leakage``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionbench.data import fill_action
from actionbench.errors import ActionBenchError
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import (clip_results, exemplar_image_features, image_features, metric_settings,
                                          open_images, text_features)

REDUCTIONS = ("mean", "max")


@dataclass
class ClipSettings:
    reduction: str = "mean"  # CLIP-I over the exemplars: "mean" (DreamBooth's) or "max" (nearest)


def clip_t_score(image_features: np.ndarray, text_features: np.ndarray) -> np.ndarray:
    """Functional CLIP-T: row-wise cosine between paired image and text embeddings (N, D) -> (N,)."""
    return _cosine(image_features, text_features)


def clip_i_score(image_features: np.ndarray, exemplar_features: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """Functional CLIP-I: cosine of each image (N, D) to each exemplar (E, D), reduced over the
    finite exemplars by ``mean`` or ``max`` -> (N,); NaN where nothing is finite."""
    if reduction not in REDUCTIONS:
        raise ActionBenchError(f"CLIP-I reduction '{reduction}' is unknown", f"choose one of {', '.join(REDUCTIONS)}")
    exemplar_features = np.asarray(exemplar_features, dtype=np.float64)
    exemplar_features = exemplar_features[np.isfinite(exemplar_features).all(axis=1)]
    image_features = np.asarray(image_features, dtype=np.float64)
    if exemplar_features.size == 0:
        return np.full(len(image_features), np.nan)
    cosines = _unit(image_features) @ _unit(exemplar_features).T
    return cosines.mean(axis=1) if reduction == "mean" else cosines.max(axis=1)


def _unit(features: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return features / np.linalg.norm(features, axis=-1, keepdims=True)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(_unit(np.asarray(a, dtype=np.float64)) * _unit(np.asarray(b, dtype=np.float64)), axis=-1)


def action_prompt(record: ImageRecord, context: ScoringContext) -> str:
    """The record's prompt with the action written out in words."""
    return fill_action(record.prompt, context.action.description)


@METRICS.register("clip")
class ClipAlignment(Metric):
    """CLIP-T (image vs the prompt with the action in words) and CLIP-I (image vs the exemplars)."""

    name = "clip"
    scores = (
        ScoreInfo("clip_t", "CLIP cosine between the image and the prompt with the action written out in words",
                  True, role="action"),
        ScoreInfo("clip_i", "mean CLIP cosine between the image and the action's exemplar photos", True),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings = metric_settings(ClipSettings, context, self.name)
        if settings.reduction not in REDUCTIONS:
            raise ActionBenchError(f"settings for metric clip: reduction '{settings.reduction}' is unknown",
                                   f"choose one of {', '.join(REDUCTIONS)}")
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        if all(image is None for image in images):
            return [self.failed(failure) for failure in failures]
        features = image_features(context, paths, images)
        texts = text_features(context, [action_prompt(r, context) for r in records])
        clip_t = clip_t_score(features, texts)
        clip_i = clip_i_score(features, exemplar_image_features(context, context.action), settings.reduction)
        return clip_results(self, images, failures, features,
                            lambda i: {"clip_t": float(clip_t[i]), "clip_i": float(clip_i[i])})
