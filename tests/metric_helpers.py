"""Shared helpers for the metric tests: records and scoring contexts over small image sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actionbench.data import Action, Benchmark, Exemplar, Protocol, Subject
from actionbench.metrics.base import ImageRecord, ScoringContext
from actionbench.perception.clip_models import WEIGHTS_ENV
from actionbench.perception.settings import ScorerConfig

MAN = Subject("man", "a man", "human")
CAT = Subject("cat", "a cat", "animal")


def save(image: Image.Image | np.ndarray, path: Path) -> Path:
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def action_from_files(name: str, paths: list[Path], description: str = "", mirror: bool = False) -> Action:
    exemplars = tuple(Exemplar(image_path=Path(p), sha256=f"{name}-{i}") for i, p in enumerate(paths))
    return Action(name=name, description=description or f"doing {name}", exemplars=exemplars,
                  mirror_invariant=mirror, source="test")


def benchmark_of(actions: list[Action], subjects=(MAN, CAT)) -> Benchmark:
    return Benchmark(name="test", actions={a.name: a for a in actions}, protocol=Protocol(subjects=tuple(subjects)))


def context_for(benchmark: Benchmark, action: Action, clip_model: str = "tiny-random",
                settings: object | None = None, shared: dict | None = None, **scorers) -> ScoringContext:
    """``settings``: the metric's resolved settings object (``plan.metric_config``); None for its defaults."""
    return ScoringContext(benchmark=benchmark, action=action,
                          scorers=ScorerConfig(clip_model=clip_model, pose_backend="mediapipe", **scorers),
                          settings=settings, shared={} if shared is None else shared)


def records_for(paths: list[Path], action: Action, subjects=None, references=None,
                prompt: str = "{subject} {action}") -> list[ImageRecord]:
    subjects = subjects or [MAN] * len(paths)
    references = references or [None] * len(paths)
    return [ImageRecord(image_id=f"img{i}", path=Path(p), method="test", action=action.name, subject=s, seed=i,
                        prompt=prompt.replace("{subject}", s.text), reference_path=r)
            for i, (p, s, r) in enumerate(zip(paths, subjects, references))]


class _Tokens(list):
    def to(self, device):
        return self


class FakeClipModel:
    """An encoder with a known answer (as pytorch-fid's tests mock Inception): an image's embedding
    is given by its mean colour, a text's by the keywords it contains."""

    def __init__(self, image_vectors: dict[tuple[int, int, int], list[float]], keywords: dict[str, list[float]]):
        self.image_vectors = image_vectors
        self.keywords = keywords

    def encode_image(self, batch):
        import torch

        rows = []
        for colour in batch.round().int().tolist():
            rows.append(self.image_vectors.get(tuple(colour), [float("nan")] * len(next(iter(self.keywords.values())))))
        return torch.tensor(rows, dtype=torch.float32)

    def encode_text(self, tokens):
        import torch

        width = len(next(iter(self.keywords.values())))
        rows = [[sum(v[i] for k, v in self.keywords.items() if k in text) for i in range(width)] for text in tokens]
        return torch.tensor(rows, dtype=torch.float32)


def fake_clip_context(context: ScoringContext, model: FakeClipModel) -> ScoringContext:
    """Put ``model`` where the metrics look for the run's CLIP model."""
    import torch

    from actionbench.perception.clip_models import ClipBundle

    def preprocess(image):  # the mean colour, rounded: the fake model's input
        return torch.tensor(np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0).round())

    scorers = context.scorers
    key = ("clip", scorers.clip_model, scorers.clip_pretrained, os.environ.get(WEIGHTS_ENV), context.device)
    context.shared[key] = ClipBundle(model=model, preprocess=preprocess, tokenizer=_Tokens, name="fake")
    return context


def solid(colour, size=(64, 64)) -> Image.Image:
    return Image.new("RGB", size, tuple(colour))


def textured(colour, size=(64, 64), amplitude=60) -> Image.Image:
    """``colour`` in rows of colour, colour + d, colour, colour - d: not flat (the judge's
    metrics/flat.py), while its mean colour (what FakeClipModel reads; height a multiple of 4) and
    its top-left pixel are ``colour``."""
    base = np.array(colour, dtype=np.int64)
    delta = np.minimum(amplitude, np.minimum(base, 255 - base))
    rows = base[None, :] + np.array([0, 1, 0, -1])[np.arange(size[1]) % 4, None] * delta[None, :]
    return Image.fromarray(np.repeat(rows[:, None, :], size[0], axis=1).astype(np.uint8))


def real_clip_scorers() -> ScorerConfig:
    weights = os.environ.get(WEIGHTS_ENV)
    if not weights:
        pytest.skip(f"{WEIGHTS_ENV} is not set: real CLIP weights are needed (e.g. ViT-L-14 openai weights file, "
                    "with ACTIONBENCH_CLIP_MODEL naming another architecture, or a Hugging Face CLIP folder)")
    if Path(weights).is_dir():
        return ScorerConfig(clip_model=weights)
    return ScorerConfig(clip_model=os.environ.get("ACTIONBENCH_CLIP_MODEL", "ViT-L-14"), clip_pretrained=weights)
