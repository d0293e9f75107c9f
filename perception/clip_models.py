"""CLIP models by name: any open_clip model, a small random one for tests, or the mini world's.

``load_clip(config)`` returns a :class:`ClipBundle` (model, image preprocessing, tokenizer) for the
run's :class:`~.settings.ScorerConfig`. Named models are registered in ``CLIP_MODELS``
(:mod:`actionbench.perception`; a world registers its own); any other name goes to
``open_clip.create_model_and_transforms``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from actionbench.errors import ActionBenchError
from actionbench.hub import offline_unless_reachable
from actionbench.perception import CLIP_MODELS
from actionbench.perception.settings import ScorerConfig

# The issue's default: the CLIP of most text-to-image papers' CLIP-T/CLIP-I (OpenAI's ViT-L/14).
DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"
WEIGHTS_ENV = "ACTIONBENCH_CLIP_WEIGHTS"  # a local weights file for the configured open_clip model
RANDOM_WEIGHTS = ("none", "random")  # clip_pretrained values that ask for random weights (benchmarks)


@dataclass
class ClipBundle:
    model: Any  # an open_clip CLIP model in eval mode (or an adapter with encode_image/encode_text)
    preprocess: Callable  # PIL image -> tensor (C, H, W)
    tokenizer: Callable  # list[str] -> what model.encode_text takes (a token tensor for open_clip)
    name: str


def load_clip(scorers: ScorerConfig, device: str = "cpu") -> ClipBundle:
    """The CLIP model the run's scorer config names, in eval mode on ``device``.

    ``clip_model``: a registered name (``CLIP_MODELS``), a folder holding a Hugging Face
    ``CLIPModel`` (``config.json``; see :mod:`.clip_hf`), or an open_clip architecture name
    (default ``ViT-L-14``). For an open_clip name, ``clip_pretrained`` is open_clip's pretrained tag
    or a local weights file; unset, it is ``$ACTIONBENCH_CLIP_WEIGHTS`` when set, else ``openai``
    (or the model's first tag); ``"none"`` gives random weights. Weights that are neither on this
    machine nor downloadable give one line naming the fix.
    """
    name = scorers.clip_model or DEFAULT_MODEL
    pretrained = scorers.clip_pretrained
    if name in CLIP_MODELS.names():
        return CLIP_MODELS.get(name)(pretrained, device)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ActionBenchError(f"CLIP model folder {folder} has no config.json",
                                   "point scorers.clip_model at a Hugging Face CLIPModel saved with save_pretrained")
        from actionbench.perception.clip_hf import load_hf_clip

        return load_hf_clip(folder, device)
    return _load_open_clip(name, pretrained, device)


def clip_model_version(scorers: ScorerConfig) -> str | None:
    """The chosen CLIP's version for score keys, without loading it: a registered model's own
    ``model_version()`` when its factory has one (the mini CLIP hashes its weights file); for an
    open_clip name with no ``clip_pretrained``, the weights file ``$ACTIONBENCH_CLIP_WEIGHTS`` names
    (a different file is a different model). None otherwise: the scorer settings name the model."""
    name = scorers.clip_model or DEFAULT_MODEL
    if name in CLIP_MODELS.names():
        version = getattr(CLIP_MODELS.get(name), "model_version", None)
        return version() if callable(version) else None
    weights = env_weights(scorers.clip_pretrained)
    return f"{WEIGHTS_ENV}={weights}" if weights else None


def env_weights(pretrained: str | None) -> str | None:
    """The weights file ``$ACTIONBENCH_CLIP_WEIGHTS`` names when ``clip_pretrained`` is unset: the one
    rule the loader and the score keys share. None when a tag or file is given or the variable is unset."""
    return (os.environ.get(WEIGHTS_ENV) or None) if pretrained is None else None


def _load_open_clip(name: str, pretrained: str | None, device: str) -> ClipBundle:
    import open_clip

    if name not in open_clip.list_models():
        raise ActionBenchError(
            f"unknown CLIP model '{name}'",
            f"use an open_clip model name (open_clip.list_models()), one of {', '.join(CLIP_MODELS.names())}, "
            "or a folder holding a Hugging Face CLIPModel")
    if pretrained is None:
        pretrained = env_weights(None) or _default_tag(open_clip, name)
    if pretrained is not None and pretrained.lower() in RANDOM_WEIGHTS:
        pretrained = None
    looks_like_path = pretrained is not None and (os.sep in pretrained or Path(pretrained).suffix != "")
    if looks_like_path and not Path(pretrained).expanduser().is_file():
        raise ActionBenchError(f"CLIP weights file {pretrained} does not exist",
                               f"point {WEIGHTS_ENV} or scorers.clip_pretrained at a local weights file for {name}")
    try:
        with quiet_open_clip(), offline_unless_reachable():
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=str(Path(pretrained).expanduser()) if looks_like_path else pretrained)
    except RuntimeError as error:
        reason = " ".join(str(error).split())
        if looks_like_path:
            raise ActionBenchError(f"CLIP weights file {pretrained} does not fit {name} ({reason[:160]})",
                                   "name the matching architecture in scorers.clip_model") from error
        raise ActionBenchError(
            f"CLIP weights '{pretrained}' for {name} are not on this machine and cannot be downloaded",
            f"set {WEIGHTS_ENV}=<local weights file> or --set scorers.clip_pretrained=<local file>, "
            "or choose another scorers.clip_model") from error
    return ClipBundle(model=model.to(device).eval(), preprocess=preprocess,
                      tokenizer=open_clip.get_tokenizer(name), name=f"{name}/{pretrained or 'random'}")


def _default_tag(open_clip: Any, name: str) -> str | None:
    tags = open_clip.list_pretrained_tags_by_model(name)
    if DEFAULT_PRETRAINED in tags:
        return DEFAULT_PRETRAINED
    return tags[0] if tags else None


@contextlib.contextmanager
def quiet_open_clip() -> Iterator[None]:
    """open_clip logs download failures and "no pretrained weights" on the root logger: we report
    the first as an ActionBenchError and the second is what was asked for."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)
