"""``clip``: CLIP agreement of a generated image with the action, in words (CLIP-T) and in pictures (CLIP-I).

With E_I, E_T the unit-length CLIP image and text embeddings (the run's CLIP model)::

    clip_t(x)     = cos(E_I(x), E_T(prompt with the action written out in words))     raw cosine, -1 to 1
    clip_score(x) = 100 * max(clip_t(x), 0)                                           CLIPScore, 0 to 100
    clip_i(x)     = mean_j cos(E_I(x), E_I(e_j))        over the action's exemplar photos e_j

``clip_score`` is CLIPScore as papers report it (Hessel et al. 2021 with w = 100, torchmetrics'
``CLIPScore``; tested equal on the same model); ``clip_t`` keeps the raw cosine, whose sign and
small differences the clipping hides. The prompt is the protocol prompt with ``{action}`` replaced
by the action's description, so a method is judged on what was asked of it ("a cat" + "raising
both arms overhead in celebration"), whatever token it used. CLIP reads at most its context length
(77 tokens for OpenAI's CLIP) and cuts the rest: a longer prompt is scored on its beginning and
said so on stderr, once per action. CLIP-I averages over the exemplars as DreamBooth's CLIP-I does
(the ``reduction="max"`` setting takes the nearest exemplar instead); exemplars that cannot be read
are left out of it and named on stderr. A high CLIP-I can also mean copied appearance; read it
beside ``leakage``.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import numpy as np

from actionbench.data import fill_action
from actionbench.errors import ActionBenchError
from actionbench.metrics import METRICS
from actionbench.metrics.base import ImageRecord, Metric, MetricResult, ScoreInfo, ScoringContext
from actionbench.metrics.features import (clip_bundle, clip_results, exemplar_image_features, image_features,
                                          open_images, text_features)
from actionbench.metrics.notes import note_once, note_unreadable_exemplars

Reduction = Literal["mean", "max"]
REDUCTIONS: tuple[str, ...] = typing.get_args(Reduction)
CLIPSCORE_WEIGHT = 100.0  # CLIPScore's w (Hessel et al. 2021; torchmetrics' CLIPScore)
CONTEXT_LENGTH = 77  # OpenAI CLIP's text context, when the tokenizer does not say its own


@dataclass
class ClipSettings:
    reduction: Reduction = "mean"  # CLIP-I over the exemplars: "mean" (DreamBooth's) or "max" (nearest)


def clip_t_score(image_features: np.ndarray, text_features: np.ndarray) -> np.ndarray:
    """Functional CLIP-T: row-wise cosine between paired image and text embeddings (N, D) -> (N,)."""
    return _cosine(image_features, text_features)


def clipscore(clip_t: np.ndarray) -> np.ndarray:
    """CLIPScore from CLIP-T cosines: ``100 * max(cos, 0)`` (NaN stays NaN)."""
    clip_t = np.asarray(clip_t, dtype=np.float64)
    return np.where(np.isnan(clip_t), np.nan, CLIPSCORE_WEIGHT * np.maximum(clip_t, 0.0))


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


def token_count(tokenizer, text: str) -> tuple[int, int]:
    """(tokens ``text`` takes with CLIP's start and end tokens, the context length the encoder reads).

    open_clip tokenizers say both; any other (a Hugging Face CLIP's) uses CLIP's byte-pair vocabulary,
    so open_clip's own tokenizer counts for it, against OpenAI CLIP's 77."""
    if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "context_length")):
        import open_clip

        tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=CONTEXT_LENGTH)
    return len(tokenizer.encode(text)) + 2, int(tokenizer.context_length)


def note_long_prompts(context: ScoringContext, prompts: list[str]) -> None:
    """Say (once per action) that prompts longer than the text encoder's context are scored cut."""
    tokenizer = clip_bundle(context).tokenizer
    counts = {prompt: token_count(tokenizer, prompt) for prompt in dict.fromkeys(prompts)}
    long = {p: n for p, (n, limit) in counts.items() if n > limit}
    if long:
        limit = next(iter(counts.values()))[1]
        longest = max(long, key=long.get)
        example = longest if len(longest) <= 80 else longest[:80] + "…"
        note_once(context, f"clip: {len(long)} prompt(s) of action {context.action.name} are longer than the CLIP "
                           f"text encoder's {limit} tokens (up to {long[longest]}); clip_t and clip_score read only "
                           f"their first {limit} tokens, e.g. '{example}'")


@METRICS.register("clip")
class ClipAlignment(Metric):
    """CLIP-T (image vs the prompt with the action in words) and CLIP-I (image vs the exemplars)."""

    name = "clip"
    settings_cls = ClipSettings
    scores = (
        ScoreInfo("clip_t", "CLIP-T: raw CLIP cosine between the image and the prompt with the action written out "
                  "in words (-1 to 1)", True, label="CLIP-T", scale="cosine, −1–1"),
        ScoreInfo("clip_score", "CLIPScore: 100 x max(CLIP-T cosine, 0), as papers and torchmetrics report it "
                  "(0-100)", True, label="CLIPScore", scale="0–100"),
        ScoreInfo("clip_i", "CLIP-I: mean CLIP cosine between the image and the action's exemplar photos (-1 to 1)",
                  True, label="CLIP-I", scale="cosine, −1–1"),
    )

    def score(self, records: list[ImageRecord], context: ScoringContext) -> list[MetricResult]:
        settings: ClipSettings = self.settings_in(context)
        paths = [r.path for r in records]
        images, failures = open_images(paths)
        if all(image is None for image in images):
            return [self.failed(failure) for failure in failures]
        features = image_features(context, paths, images)
        prompts = [action_prompt(r, context) for r in records]
        note_long_prompts(context, prompts)
        note_unreadable_exemplars(context, context.action, self.name, f"CLIP-I is the {settings.reduction} over the "
                                                                      "others")
        clip_t = clip_t_score(features, text_features(context, prompts))
        score = clipscore(clip_t)
        clip_i = clip_i_score(features, exemplar_image_features(context, context.action), settings.reduction)
        return clip_results(self, images, failures, features,
                            lambda i: {"clip_t": float(clip_t[i]), "clip_score": float(score[i]),
                                       "clip_i": float(clip_i[i])})
