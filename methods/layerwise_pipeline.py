"""Layer-wise identifiers (P+, ADI) on any diffusers Stable Diffusion pipeline, in one self-contained file.

A layer-wise artifact holds one learned token embedding per cross-attention layer of the UNet
(``identifiers.safetensors``) and what it was trained with (``identifiers.json``); the format is
specified in ActionBench's ``docs/layerwise-format.md`` (format ``actionbench-layerwise-identifiers/1``).
No stock diffusers loader reads it, so every such artifact ships this file as ``pipeline.py``,
which diffusers loads as a custom pipeline::

    import torch
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(BASE, custom_pipeline=ARTIFACT, trust_remote_code=True)
    pipe.load_layerwise_identifiers(ARTIFACT)
    image = pipe("a corgi <action> on the moon", generator=torch.Generator().manual_seed(0)).images[0]

A pipeline you already hold gets the same method with
``DiffusionPipeline.from_pipe(pipe, custom_pipeline=ARTIFACT, trust_remote_code=True)``, or import
this file and call :func:`load_layerwise_identifiers` (pipe, ARTIFACT) on any
``StableDiffusionPipeline``. After the call the pipeline takes ordinary prompts: wherever the token
(``<action>``) appears, cross-attention layer ``i`` reads the prompt encoded with identifier ``i``.
Everything else (schedulers, guidance, negative prompts, ``num_images_per_prompt``, LoRAs) is the
stock pipeline's.

How (the same code trains and samples inside ActionBench, ``actionbench.methods.layerwise_pipeline``;
this file is a verbatim copy and imports nothing from ActionBench):

- **Routing.** Each cross-attention layer's processor is wrapped in a :class:`LayerwiseAttnProcessor`
  that cuts its own block out of a *packed* condition ``(batch, layers * tokens, dim)``; a plain
  ``(batch, tokens, dim)`` condition passes through untouched.
- **Encoding.** Two hooks on the text encoder (PyTorch's public forward hooks) turn its output for a
  prompt holding the token into the packed per-layer encoding: the prompt is encoded once per
  layer in one batched call, with identifier ``i`` in place of the token's embedding in copy ``i``.
  The pipeline pads its negative prompt to the packed length; the hooks encode it at the model's
  length and repeat it per layer, so classifier-free guidance works unchanged.

Requires torch, safetensors and diffusers (with transformers); tested with diffusers 0.42.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline

FORMAT = "actionbench-layerwise-identifiers/1"
VECTORS_FILE = "identifiers.safetensors"
MANIFEST_FILE = "identifiers.json"
TENSOR_NAME = "identifiers"  # the one tensor in VECTORS_FILE: (identifiers, embedding width), float32
PIPELINE_FILE = "pipeline.py"  # the name diffusers' custom_pipeline=<folder> imports
HOOKS_ATTRIBUTE = "_layerwise_identifier_hooks"  # where a text encoder keeps its LayerwiseTextHooks
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

    The processors in place (SDPA, default, xformers, LoRA) are wrapped, not replaced.
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
# Encoding prompts that hold the identifier token


@contextlib.contextmanager
def substituted_token(text_encoder, token_id: int, vectors: torch.Tensor):
    """While active, row ``r`` of every token-embedding lookup gets ``vectors[r]`` wherever ``token_id`` is."""

    def replace(module, args, output):
        where = (args[0] == token_id).unsqueeze(-1)
        return torch.where(where, vectors[:, None, :].to(output.device, output.dtype), output)

    handle = text_encoder.get_input_embeddings().register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def encode_rows(text_encoder, input_ids: torch.Tensor, identifiers: torch.Tensor, token_id: int, **kwargs):
    """The text encoder's output for every (identifier, prompt) pair, identifier-major, in one call.

    ``input_ids``: ``(batch, tokens)``. ``identifiers``: ``(n, dim)`` shared by every prompt, or
    ``(batch, n, dim)``, one set per prompt. Row ``i * batch + b`` of the output is prompt ``b``
    encoded with identifier ``i`` in place of the token. ``kwargs`` (an attention mask) are repeated
    alike. Gradients flow to ``identifiers``.
    """
    batch, tokens = input_ids.shape
    if identifiers.dim() == 2:
        identifiers = identifiers.unsqueeze(0).expand(batch, -1, -1)
    count, dim = identifiers.shape[1], identifiers.shape[2]
    rows = input_ids.unsqueeze(0).expand(count, batch, tokens).reshape(count * batch, tokens)
    vectors = identifiers.transpose(0, 1).reshape(count * batch, dim)
    kwargs = {key: value.repeat(count, *([1] * (value.dim() - 1))) if torch.is_tensor(value) and value.dim() > 0
              and value.shape[0] == batch else value for key, value in kwargs.items()}
    hooks = getattr(text_encoder, HOOKS_ATTRIBUTE, None)  # installed by load_layerwise_identifiers
    with substituted_token(text_encoder, token_id, vectors), (hooks.bypassed() if hooks else contextlib.nullcontext()):
        return text_encoder(rows.to(text_encoder.device), **kwargs)


def pack_rows(value: Any, count: int) -> Any:
    """An output of :func:`encode_rows` (``count * batch`` rows) in packed form.

    Hidden states ``(count * batch, tokens, dim)`` become ``(batch, count * tokens, dim)``; a pooled
    ``(count * batch, dim)`` keeps the first identifier's rows (SD never reads it); tuples, lists
    and transformers' ``ModelOutput`` are packed field by field.
    """
    if torch.is_tensor(value):
        if value.dim() == 3:
            return pack_layers(value.reshape(count, value.shape[0] // count, *value.shape[1:]))
        if value.dim() == 2:
            return value[: value.shape[0] // count]
        return value
    if isinstance(value, dict):  # transformers' ModelOutput (an ordered dict with attributes)
        return type(value)(**{key: pack_rows(item, count) for key, item in value.items()})
    if isinstance(value, (tuple, list)):
        return type(value)(pack_rows(item, count) for item in value)
    return value


def repeat_blocks(value: Any, count: int) -> Any:
    """One shared condition in packed form: each hidden state repeated ``count`` times along the tokens."""
    if torch.is_tensor(value):
        return value.repeat(1, count, 1) if value.dim() == 3 else value
    if isinstance(value, dict):
        return type(value)(**{key: repeat_blocks(item, count) for key, item in value.items()})
    if isinstance(value, (tuple, list)):
        return type(value)(repeat_blocks(item, count) for item in value)
    return value


class LayerwiseTextHooks:
    """Forward hooks on a text encoder that make its output the packed layer-wise condition.

    - Input holding ``token_id``: the prompt is re-encoded once per identifier (:func:`encode_rows`)
      and packed, ``(batch, count * tokens, dim)``.
    - Input longer than ``tokens`` (the pipeline pads its negative prompt to the length of the packed
      positive one): encoded at ``tokens`` and repeated ``count`` times, the same text for every layer.
    - Anything else passes through unchanged.
    """

    def __init__(self, text_encoder, vectors: torch.Tensor, token_id: int, tokens: int, eos_id: int, pad_id: int):
        self.vectors, self.token_id, self.tokens = vectors, token_id, tokens
        self.eos_id, self.pad_id = eos_id, pad_id
        self.count = vectors.shape[0]
        self._inside = False  # True while encode_rows calls the encoder: the hooks stand aside
        self._requested = 0  # the token length of the call in progress, as the caller padded it
        self.handles = [
            text_encoder.register_forward_pre_hook(self.before, with_kwargs=True),
            text_encoder.register_forward_hook(self.after, with_kwargs=True),
        ]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    @contextlib.contextmanager
    def bypassed(self):
        """While active, the text encoder is stock (for :func:`encode_rows`' own calls)."""
        inside, self._inside = self._inside, True
        try:
            yield
        finally:
            self._inside = inside

    @staticmethod
    def _ids(args, kwargs) -> torch.Tensor | None:
        return args[0] if args else kwargs.get("input_ids")

    def before(self, module, args, kwargs):
        ids = self._ids(args, kwargs)
        if self._inside or ids is None:
            return None
        self._requested = ids.shape[1]
        if ids.shape[1] <= self.tokens:
            return None
        # Padded past the model's length: keep the first `tokens`, ending in EOS as the tokenizer would.
        cut = ids[:, :self.tokens].clone()
        truncated = (cut[:, -1] != self.eos_id) & (cut[:, -1] != self.pad_id)
        cut[truncated, -1] = self.eos_id
        if "attention_mask" in kwargs and torch.is_tensor(kwargs["attention_mask"]):
            kwargs = {**kwargs, "attention_mask": kwargs["attention_mask"][:, :self.tokens]}
        if args:
            return (cut, *args[1:]), kwargs
        return args, {**kwargs, "input_ids": cut}

    def after(self, module, args, kwargs, output):
        ids = self._ids(args, kwargs)
        if self._inside or ids is None:
            return None
        if bool((ids == self.token_id).any()):
            rest = {key: value for key, value in kwargs.items() if key != "input_ids"}
            return pack_rows(encode_rows(module, ids, self.vectors, self.token_id, **rest), self.count)
        if self._requested > self.tokens and self.count > 1:
            return repeat_blocks(output, self.count)
        return None


# ---------------------------------------------------------------------------------------------
# Artifacts


def read_layerwise_identifiers(folder) -> tuple[torch.Tensor, dict[str, Any]]:
    """``(vectors, manifest)`` of an artifact folder; ``vectors`` is ``(identifiers, width)`` float32."""
    from safetensors.torch import load_file

    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder} holds identifiers in format {manifest.get('format')!r}; this loader reads {FORMAT}")
    vectors = load_file(str(folder / VECTORS_FILE))[TENSOR_NAME]
    if vectors.dim() != 2 or vectors.shape[0] not in (1, len(manifest["layer_names"])):
        raise ValueError(f"{folder}: {TENSOR_NAME} has shape {tuple(vectors.shape)}; expected "
                         f"({len(manifest['layer_names'])} or 1, width)")
    return vectors, manifest


def check_compatible(pipe, vectors: torch.Tensor, manifest: dict[str, Any]) -> None:
    """Refuse a pipeline whose cross-attention layout or text width differs from the training base's."""
    layers = cross_attention_layers(pipe.unet)
    if layers != manifest["layer_names"]:
        raise ValueError(f"the identifiers were trained on a UNet with {len(manifest['layer_names'])} cross-attention "
                         f"layers; this pipeline's has {len(layers)} with other names: use the base model they were "
                         f"trained on ({manifest.get('base', {}).get('name_or_path', 'see identifiers.json')})")
    width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
    if width != vectors.shape[1]:
        raise ValueError(f"the identifiers are {vectors.shape[1]}-dimensional; this pipeline's text encoder is "
                         f"{width}: use the base model they were trained on")


def add_identifier_token(pipe, token: str) -> int:
    """The token's id, adding it to the tokenizer (and a row to the embedding table) if missing.

    The row's content never matters: the hooks put the identifiers in its place in every call.
    """
    tokenizer = pipe.tokenizer
    if token not in tokenizer.get_vocab():
        tokenizer.add_tokens([token])
        try:
            pipe.text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        except TypeError:  # transformers < 4.46 has no mean_resizing
            pipe.text_encoder.resize_token_embeddings(len(tokenizer))
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"the identifier token {token!r} is not a single token for this tokenizer")
    return ids[0]


def load_layerwise_identifiers(pipe, folder) -> dict[str, Any]:
    """Install an artifact's identifiers on ``pipe`` (any Stable Diffusion pipeline); returns its manifest.

    Afterwards ``pipe("a corgi <action> on the moon")`` conditions each cross-attention layer on its
    own identifier. Calling it again with another artifact replaces the first.
    """
    vectors, manifest = read_layerwise_identifiers(folder)
    check_compatible(pipe, vectors, manifest)
    tokens = pipe.tokenizer.model_max_length
    if vectors.shape[0] > 1:
        install_layerwise_attention(pipe.unet, tokens)
    token_id = add_identifier_token(pipe, manifest["token"])
    previous = getattr(pipe.text_encoder, HOOKS_ATTRIBUTE, None)
    if previous is not None:
        previous.remove()
    hooks = LayerwiseTextHooks(pipe.text_encoder, vectors, token_id, tokens,
                               eos_id=pipe.tokenizer.eos_token_id, pad_id=pipe.tokenizer.pad_token_id)
    setattr(pipe.text_encoder, HOOKS_ATTRIBUTE, hooks)
    return manifest


class LayerwiseIdentifiersPipeline(StableDiffusionPipeline):
    """``StableDiffusionPipeline`` plus :meth:`load_layerwise_identifiers` (the class diffusers'
    ``custom_pipeline=<artifact folder>`` returns)."""

    def load_layerwise_identifiers(self, folder) -> dict[str, Any]:
        """Install the identifiers of an artifact folder; prompts may then use its token (``<action>``)."""
        return load_layerwise_identifiers(self, folder)
