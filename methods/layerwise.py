"""Layer-wise text conditioning: each cross-attention layer of the UNet reads its own prompt encoding.

P+ (Voynov et al. 2023) and ADI (Huang et al. 2024) learn one identifier embedding per
cross-attention layer instead of one per prompt. The mechanism itself (layer order, packing,
routing, token substitution, the text-encoder hooks and the artifact loader) lives in
:mod:`actionbench.methods.layerwise_pipeline`, a file that imports nothing from the suite and is
copied verbatim into every artifact as ``pipeline.py``: what a user loads with diffusers is the code
that trained and sampled the suite's images. This module adds what only the suite needs:

- **Layers.** :func:`cross_attention_layers` names the UNet's cross-attention modules, in the order
  a forward pass meets them (down blocks, mid block, up blocks). They are counted from the model:
  16 on SD 1.x/2.x (6 down, 1 mid, 9 up), 6 on the tiny test pipeline. Routing is per attention
  layer, never per UNet block, so every identifier is read by exactly one layer.
- **Packing.** The per-layer encodings of a prompt are concatenated along the sequence axis:
  ``(batch, layers * tokens, dim)``, block ``i`` for layer ``i`` (:func:`pack_layers`). A packed
  tensor travels as ordinary ``encoder_hidden_states``, so the stock pipeline's classifier-free
  guidance and ``prompt_embeds=`` work unchanged.
- **Identifiers in prompts.** One placeholder token (:data:`IDENTIFIER_TOKEN`) stands for the
  identifier in a prompt. :func:`encode_with_identifiers` encodes every layer's copy of every prompt
  in one text-encoder call (training; ADI's per-role copies), putting layer ``i``'s identifier
  vector where the token's embedding would be. The embedding table itself is never trained.
- **Artifacts.** ``identifiers.safetensors`` (one row per layer), ``identifiers.json`` (token,
  layer names, base identity, settings) and ``pipeline.py``; ``docs/layerwise-format.md`` is the
  spec. :func:`generate_with_identifiers` samples through
  :func:`~actionbench.methods.layerwise_pipeline.load_layerwise_identifiers`, the loader users call.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from actionbench.data import fill_action
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_path, atomic_write_json
from actionbench.methods import layerwise_pipeline
from actionbench.methods.generation import sample_images
from actionbench.methods.layerwise_pipeline import (  # noqa: F401  (re-exported: the suite's names)
    FORMAT,
    MANIFEST_FILE,
    PIPELINE_FILE,
    TENSOR_NAME,
    VECTORS_FILE,
    LayerwiseAttnProcessor,
    cross_attention_layers,
    encode_rows,
    install_layerwise_attention,
    load_layerwise_identifiers,
    pack_layers,
    substituted_token,
    unpack_layers,
)
from actionbench.methods.training import load_once, model_fingerprint

IDENTIFIER_TOKEN = "<action>"  # stands for the learned identifier in every prompt


# ---------------------------------------------------------------------------------------------
# Identifier tokens in prompts


def ensure_identifier_token(pipe, token: str = IDENTIFIER_TOKEN) -> int:
    """The placeholder's token id, adding it to the tokenizer (and a row to the table) if missing.

    The row's content never matters: :func:`encode_with_identifiers` replaces it in every call.
    """
    try:
        return layerwise_pipeline.add_identifier_token(pipe, token)
    except ValueError as error:
        raise ActionBenchError(f"the identifier token {token!r} is not a single token", "choose another token") from error


def token_embedding(pipe, word: str) -> torch.Tensor:
    """The input embedding of ``word``'s first token (identifiers start from it, as in textual inversion)."""
    ids = pipe.tokenizer.encode(word, add_special_tokens=False)
    if not ids:
        raise ActionBenchError(f"initializer word '{word}' is empty after tokenizing", "choose a word")
    return pipe.text_encoder.get_input_embeddings().weight[ids[0]].detach().float().clone()


def tokenize(pipe, prompts: list[str]) -> torch.Tensor:
    return pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                          truncation=True, return_tensors="pt").input_ids


def encode_with_identifiers(pipe, prompts: list[str], identifiers: torch.Tensor, token_id: int) -> torch.Tensor:
    """Encode prompts holding the identifier token, once per identifier, in one text-encoder call.

    ``identifiers``: ``(n, dim)`` shared by all prompts, or ``(batch, n, dim)`` one set per prompt
    (ADI's per-role copies). With ``n`` layer identifiers the result is packed, ``(batch, n *
    tokens, dim)``; with ``n == 1`` it is an ordinary ``(batch, tokens, dim)`` condition. Gradients
    flow to ``identifiers``.
    """
    ids = tokenize(pipe, prompts)
    if not bool((ids == token_id).any(dim=1).all()):
        missing = [p for p, row in zip(prompts, ids) if not bool((row == token_id).any())]
        raise ValueError(f"prompt {missing[0]!r} does not contain the identifier token (or it was truncated)")
    count = identifiers.shape[-2]
    states = encode_rows(pipe.text_encoder, ids, identifiers, token_id)[0]
    return pack_layers(states.reshape(count, len(prompts), *states.shape[1:])) if count > 1 else states


# ---------------------------------------------------------------------------------------------
# Artifacts


def base_identity(pipe) -> dict[str, Any]:
    """Where the pipeline came from and a fingerprint of its weights (``training.model_fingerprint``).

    Recorded in artifacts and in ADI's cache keys, so generated samples are never reused across bases.
    """
    return {"name_or_path": str(pipe.config.get("_name_or_path", "") or ""), "fingerprint": model_fingerprint(pipe)}


@dataclass
class LayerwiseIdentifiers:
    """A trained artifact: ``vectors`` has one row per layer (or one row shared by all layers)."""

    vectors: torch.Tensor
    layer_names: list[str]
    token: str
    manifest: dict[str, Any]

    @property
    def layerwise(self) -> bool:
        return self.vectors.shape[0] > 1


def write_loader(out_dir: Path) -> Path:
    """Copy the self-contained loader (:mod:`layerwise_pipeline`) into an artifact as ``pipeline.py``."""
    target = Path(out_dir) / PIPELINE_FILE
    with atomic_path(target) as temp:
        shutil.copyfile(layerwise_pipeline.__file__, temp)
    return target


def save_identifiers(out_dir: Path, vectors: torch.Tensor, layer_names: list[str], pipe,
                     details: dict[str, Any]) -> Path:
    """Write ``identifiers.safetensors``, ``identifiers.json`` and ``pipeline.py`` into ``out_dir``."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = vectors.detach().float().cpu().contiguous()
    with atomic_path(out_dir / VECTORS_FILE) as temp:
        save_file({TENSOR_NAME: vectors}, str(temp))
    atomic_write_json(out_dir / MANIFEST_FILE, {
        "format": FORMAT, "token": IDENTIFIER_TOKEN, "layerwise": vectors.shape[0] > 1,
        "layer_names": layer_names, "embedding_dim": vectors.shape[1], "base": base_identity(pipe), **details})
    write_loader(out_dir)
    return out_dir


def load_identifiers(artifact: Path) -> LayerwiseIdentifiers:
    artifact = Path(artifact)
    corrupt = "train again: the artifact is missing or corrupt"
    try:
        manifest = json.loads((artifact / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as error:
        raise ActionBenchError(f"{artifact} holds no readable layer-wise identifiers ({error})", corrupt) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ActionBenchError(f"{artifact} has identifiers in format {found!r}",
                               f"train again with this version (format {FORMAT})")
    try:
        vectors, manifest = layerwise_pipeline.read_layerwise_identifiers(artifact)
    except (OSError, ValueError, KeyError) as error:
        raise ActionBenchError(f"{artifact} holds no readable layer-wise identifiers ({error})", corrupt) from error
    return LayerwiseIdentifiers(vectors, manifest["layer_names"], manifest["token"], manifest)


def check_compatible(pipe, identifiers: LayerwiseIdentifiers) -> None:
    """Refuse a pipeline whose cross-attention layout or text width differs from the training base."""
    layers = cross_attention_layers(pipe.unet)
    if layers != identifiers.layer_names:
        raise ActionBenchError(
            f"the identifiers were trained on a UNet with {len(identifiers.layer_names)} cross-attention layers; "
            f"this base model has {len(layers)} with other names", "generate with the base model they were trained on")
    width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
    if width != identifiers.vectors.shape[1]:
        raise ActionBenchError(
            f"the identifiers are {identifiers.vectors.shape[1]}-dimensional; "
            f"this base model's text encoder is {width}",
            "generate with the base model they were trained on")


@torch.no_grad()
def generate_with_identifiers(pipe, artifact: Path, prompts: list[str], seeds: list[int], config) -> list[Image.Image]:
    """Images for prompts holding ``{action}``, each layer conditioned with its own identifier.

    Samples exactly as a user does: the artifact's own loader installs the identifiers on the stock
    pipeline, which then reads ordinary prompts holding the token.
    """
    identifiers = load_identifiers(artifact)
    check_compatible(pipe, identifiers)
    load_once(pipe, artifact, lambda: load_layerwise_identifiers(pipe, artifact))
    filled = [fill_action(prompt, identifiers.token) for prompt in prompts]
    return sample_images(pipe, filled, seeds, config)
