"""Layer-wise text conditioning: each cross-attention layer of the UNet reads its own prompt encoding.

P+ (Voynov et al. 2023) and ADI (Huang et al. 2024) learn one identifier embedding per
cross-attention layer instead of one per prompt. This module is the one mechanism both use:

- **Layers.** :func:`cross_attention_layers` names the UNet's cross-attention modules, in the order
  a forward pass meets them (down blocks, mid block, up blocks). They are counted from the model:
  16 on SD 1.x/2.x (6 down, 1 mid, 9 up), 6 on the tiny test pipeline. Routing is per attention
  layer, never per UNet block, so every identifier is read by exactly one layer.
- **Packing.** The per-layer encodings of a prompt are concatenated along the sequence axis:
  ``(batch, layers * tokens, dim)``, block ``i`` for layer ``i`` (:func:`pack_layers`). A packed
  tensor travels as ordinary ``encoder_hidden_states``, so the stock pipeline's classifier-free
  guidance (which concatenates negative and positive embeddings along the batch axis) and
  ``prompt_embeds=`` work unchanged, and nothing has to be threaded through
  ``cross_attention_kwargs`` per batch.
- **Routing.** :func:`install_layerwise_attention` wraps each cross-attention layer's processor
  (whatever attention implementation is set: SDPA, default, xformers) in a
  :class:`LayerwiseAttnProcessor` that hands its layer's block to the wrapped processor. An
  unpacked ``(batch, tokens, dim)`` condition passes through untouched (one condition for all
  layers: the single-token ablation and ordinary prompts).
- **Identifiers in prompts.** One placeholder token (:data:`IDENTIFIER_TOKEN`) stands for the
  identifier in a prompt. :func:`encode_with_identifiers` encodes every layer's copy of every prompt
  in one text-encoder call, putting layer ``i``'s identifier vector where the token's embedding
  would be (a forward hook on the token-embedding table, active only during the call). The
  embedding table itself is never trained, so nothing else in the text encoder can drift.
- **Artifacts.** ``identifiers.safetensors`` (one row per layer) and ``identifiers.json`` (token,
  layer names, base identity, settings); :func:`generate_with_identifiers` loads them on any
  pipeline with the same cross-attention layout.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from actionbench.data import fill_action
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_path, atomic_write_json
from actionbench.methods.generation import sample_images
from actionbench.methods.training import encode_prompts, model_fingerprint

IDENTIFIER_TOKEN = "<action>"  # stands for the learned identifier in every prompt
VECTORS_FILE = "identifiers.safetensors"
MANIFEST_FILE = "identifiers.json"
FORMAT = "actionbench-layerwise-identifiers/1"
_BLOCK_ORDER = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}


# ---------------------------------------------------------------------------------------------
# Layers and routing


def cross_attention_layers(unet) -> list[str]:
    """Module names of the UNet's cross-attention layers, in forward order (down, mid, up)."""
    from diffusers.models.attention_processor import Attention

    names = [name for name, module in unet.named_modules()
             if isinstance(module, Attention) and module.is_cross_attention]
    # named_modules() lists up_blocks before mid_block (registration order); sort stably by block group.
    return sorted(names, key=lambda name: _BLOCK_ORDER.get(name.split(".")[0], len(_BLOCK_ORDER)))


def pack_layers(states: torch.Tensor) -> torch.Tensor:
    """(layers, batch, tokens, dim) -> (batch, layers * tokens, dim); block ``i`` is layer ``i``."""
    layers, batch, tokens, dim = states.shape
    return states.permute(1, 0, 2, 3).reshape(batch, layers * tokens, dim)


def unpack_layers(packed: torch.Tensor, layers: int) -> torch.Tensor:
    """Inverse of :func:`pack_layers`."""
    batch, length, dim = packed.shape
    return packed.reshape(batch, layers, length // layers, dim).permute(1, 0, 2, 3)


class LayerwiseAttnProcessor:
    """Wraps one cross-attention layer's processor: from packed states, pass on this layer's block.

    ``encoder_hidden_states`` of ``count * tokens`` tokens is cut into ``count`` blocks and block
    ``index`` goes to the wrapped processor; ``tokens`` tokens pass through (one shared condition).
    Any other length is a caller's mistake and fails loudly instead of attending to the wrong text.
    """

    def __init__(self, inner, index: int, count: int, tokens: int):
        self.inner, self.index, self.count, self.tokens = inner, index, count, tokens

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        if encoder_hidden_states is not None and self.count > 1:
            length = encoder_hidden_states.shape[1]
            if length == self.count * self.tokens:
                start = self.index * self.tokens
                encoder_hidden_states = encoder_hidden_states[:, start:start + self.tokens]
            elif length != self.tokens:
                raise ValueError(f"cross-attention layer {self.index} got {length} condition tokens; expected "
                                 f"{self.tokens} (shared) or {self.count} x {self.tokens} (layer-wise)")
        return self.inner(attn, hidden_states, encoder_hidden_states=encoder_hidden_states,
                          attention_mask=attention_mask, **kwargs)


def install_layerwise_attention(unet, tokens: int) -> list[str]:
    """Route packed conditions to their layers; returns the layer names (idempotent).

    Call after choosing the attention implementation (``training.apply_memory_options``): the
    processors in place are wrapped, not replaced.
    """
    names = cross_attention_layers(unet)
    index = {name: i for i, name in enumerate(names)}
    processors = {}
    for key, processor in unet.attn_processors.items():
        module = key.removesuffix(".processor")
        if isinstance(processor, LayerwiseAttnProcessor):
            processor = processor.inner
        if module in index:
            processor = LayerwiseAttnProcessor(processor, index[module], len(names), tokens)
        processors[key] = processor
    unet.set_attn_processor(processors)
    return names


# ---------------------------------------------------------------------------------------------
# Identifier tokens in prompts


def ensure_identifier_token(pipe, token: str = IDENTIFIER_TOKEN) -> int:
    """The placeholder's token id, adding it to the tokenizer (and a row to the table) if missing.

    The row's content never matters: :func:`encode_with_identifiers` replaces it in every call.
    """
    tokenizer = pipe.tokenizer
    if token not in tokenizer.get_vocab():
        tokenizer.add_tokens([token])
        pipe.text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ActionBenchError(f"the identifier token {token!r} is not a single token", "choose another token")
    return ids[0]


def token_embedding(pipe, word: str) -> torch.Tensor:
    """The input embedding of ``word``'s first token (identifiers start from it, as in textual inversion)."""
    ids = pipe.tokenizer.encode(word, add_special_tokens=False)
    if not ids:
        raise ActionBenchError(f"initializer word '{word}' is empty after tokenizing", "choose a word")
    return pipe.text_encoder.get_input_embeddings().weight[ids[0]].detach().float().clone()


@contextlib.contextmanager
def substituted_token(text_encoder, token_id: int, vectors: torch.Tensor):
    """While active, row ``r`` of every token-embedding lookup gets ``vectors[r]`` wherever ``token_id`` is."""

    def replace(module, args, output):
        where = (args[0] == token_id).unsqueeze(-1)
        return torch.where(where, vectors[:, None, :].to(output.dtype), output)

    handle = text_encoder.get_input_embeddings().register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


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
    batch, tokens = ids.shape
    if identifiers.dim() == 2:
        identifiers = identifiers.unsqueeze(0).expand(batch, -1, -1)
    count, dim = identifiers.shape[1], identifiers.shape[2]
    rows = ids.unsqueeze(0).expand(count, batch, tokens).reshape(count * batch, tokens)  # layer-major
    vectors = identifiers.transpose(0, 1).reshape(count * batch, dim)
    device = pipe.text_encoder.device
    with substituted_token(pipe.text_encoder, token_id, vectors.to(device)):
        states = pipe.text_encoder(rows.to(device))[0]
    states = states.reshape(count, batch, tokens, states.shape[-1])
    return pack_layers(states) if count > 1 else states[0]


def encode_negative(pipe, batch: int, count: int) -> torch.Tensor:
    """The empty prompt (classifier-free guidance), packed like a ``count``-identifier condition."""
    negative = encode_prompts(pipe, [""] * batch)
    return negative.repeat(1, count, 1) if count > 1 else negative


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


def save_identifiers(out_dir: Path, vectors: torch.Tensor, layer_names: list[str], pipe,
                     details: dict[str, Any]) -> Path:
    """Write ``identifiers.safetensors`` + ``identifiers.json`` into ``out_dir``; return ``out_dir``."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = vectors.detach().float().cpu().contiguous()
    with atomic_path(out_dir / VECTORS_FILE) as temp:
        save_file({"identifiers": vectors}, str(temp))
    atomic_write_json(out_dir / MANIFEST_FILE, {
        "format": FORMAT, "token": IDENTIFIER_TOKEN, "layerwise": vectors.shape[0] > 1,
        "layer_names": layer_names, "embedding_dim": vectors.shape[1], "base": base_identity(pipe), **details})
    return out_dir


def load_identifiers(artifact: Path) -> LayerwiseIdentifiers:
    from safetensors.torch import load_file

    artifact = Path(artifact)
    try:
        manifest = json.loads((artifact / MANIFEST_FILE).read_text())
        vectors = load_file(str(artifact / VECTORS_FILE))["identifiers"]
    except (OSError, ValueError, KeyError) as error:
        raise ActionBenchError(f"{artifact} holds no readable layer-wise identifiers ({error})",
                               "train again: the artifact is missing or corrupt") from error
    if manifest.get("format") != FORMAT:
        raise ActionBenchError(f"{artifact} has identifiers in format {manifest.get('format')!r}",
                               f"train again with this version (format {FORMAT})")
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
    """Images for prompts holding ``{action}``, each layer conditioned with its own identifier."""
    identifiers = load_identifiers(artifact)
    check_compatible(pipe, identifiers)
    count = identifiers.vectors.shape[0]
    if count > 1:
        install_layerwise_attention(pipe.unet, pipe.tokenizer.model_max_length)
    token_id = ensure_identifier_token(pipe, identifiers.token)
    vectors = identifiers.vectors.to(pipe.text_encoder.device)

    def prompt_embeds(batch: list[str]):
        positive = encode_with_identifiers(pipe, batch, vectors, token_id)
        return positive, encode_negative(pipe, len(batch), count)

    filled = [fill_action(prompt, identifiers.token) for prompt in prompts]
    return sample_images(pipe, filled, seeds, config, prompt_embeds_fn=prompt_embeds)
