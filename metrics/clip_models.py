"""CLIP models by name: any open_clip model, a small random one for tests, or the mini world's.

``load_clip(config)`` returns a :class:`ClipBundle` (model, image preprocessing, tokenizer) for the
run's :class:`~actionbench.config.ScorerConfig`. Named local models are registered in
``CLIP_MODELS``; any other name goes to ``open_clip.create_model_and_transforms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from actionbench.registry import Registry


@dataclass
class ClipBundle:
    model: Any  # an open_clip CLIP model in eval mode
    preprocess: Callable  # PIL image -> tensor (C, H, W)
    tokenizer: Callable  # list[str] -> token tensor
    name: str


# A factory takes (pretrained: str | None, device: str) and returns a ClipBundle.
CLIP_MODELS: Registry[Callable[..., ClipBundle]] = Registry("clip model")
CLIP_MODELS.lazy("tiny-random", "actionbench.metrics.clip_tiny",
                 "a small open_clip config with random weights (tests; numbers mean nothing)")
CLIP_MODELS.lazy("mini", "actionbench.mini.clip",
                 "ActionBench-Mini's CLIP, trained contrastively on the rendered world's images and captions")
