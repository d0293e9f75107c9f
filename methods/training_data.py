"""Training data: exemplar images encoded once, their captions, and the order they are drawn in.

Follows diffusers' training examples (``examples/textual_inversion``, ``examples/dreambooth``): the
VAE is frozen, so the exemplars' latent distributions are encoded once per training and a latent is
drawn from them at every step, as the examples do by encoding each step; a shuffled DataLoader's
order is a fresh permutation per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actionbench.data import Action
from actionbench.data.preprocess import exemplar_image
from actionbench.errors import ActionBenchError

TEMPLATE_SLOT = "{}"  # where a caption template (ActionBench's text.json) puts the action identifier


def native_resolution(pipe) -> int:
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


def training_resolution(pipe, config) -> int:
    size = config.resolution or native_resolution(pipe)
    if size % pipe.vae_scale_factor:
        raise ActionBenchError(f"resolution {size} is not a multiple of {pipe.vae_scale_factor}",
                               f"choose a multiple of {pipe.vae_scale_factor}")
    return size


def pil_to_tensor(images) -> torch.Tensor:
    """PIL images -> float tensor in [-1, 1], shape (N, 3, H, W)."""
    array = np.stack([np.asarray(image, dtype=np.float32) for image in images]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


@dataclass
class ExemplarLatents:
    """The exemplars' VAE posteriors, encoded once; :meth:`sample` draws latents like the examples do."""

    mean: torch.Tensor  # (N, C, h, w), already multiplied by the VAE's scaling factor
    std: torch.Tensor

    def __len__(self) -> int:
        return self.mean.shape[0]

    def sample(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.mean[indices].shape, generator=generator).to(self.mean.device, self.mean.dtype)
        return self.mean[indices] + self.std[indices] * noise


@torch.no_grad()
def encode_images(pipe, images) -> ExemplarLatents:
    """Encode PIL images with the pipeline's VAE (no gradients; the VAE is frozen)."""
    vae = pipe.vae
    pixels = pil_to_tensor(images).to(vae.device, vae.dtype)
    posterior = vae.encode(pixels).latent_dist
    scale = vae.config.scaling_factor
    return ExemplarLatents(mean=posterior.mean * scale, std=posterior.std * scale)


@torch.no_grad()
def encode_images_batched(pipe, images, batch_size: int = 8) -> ExemplarLatents:
    """:func:`encode_images` in chunks, for image sets too large for one VAE pass (class images)."""
    parts = [encode_images(pipe, images[start:start + batch_size]) for start in range(0, len(images), batch_size)]
    return ExemplarLatents(mean=torch.cat([p.mean for p in parts]), std=torch.cat([p.std for p in parts]))


def encode_exemplars(pipe, action: Action, size: int) -> ExemplarLatents:
    return encode_images(pipe, [exemplar_image(e, size) for e in action.exemplars])


class ExemplarSampler:
    """Indices drawn epoch by epoch, each epoch a fresh permutation: a shuffled DataLoader's order."""

    def __init__(self, count: int, generator: torch.Generator):
        self.count = count
        self.generator = generator
        self._queue: list[int] = []

    def draw(self, batch: int) -> torch.Tensor:
        while len(self._queue) < batch:
            self._queue.extend(torch.randperm(self.count, generator=self.generator).tolist())
        indices, self._queue = self._queue[:batch], self._queue[batch:]
        return torch.tensor(indices, dtype=torch.long)


@dataclass
class TrainingImages:
    """Encoded images with one prompt each, and the order they are drawn in."""

    latents: ExemplarLatents
    prompts: list[str]
    sampler: ExemplarSampler

    @classmethod
    def build(cls, latents: ExemplarLatents, prompts: list[str], generator: torch.Generator) -> "TrainingImages":
        if len(prompts) != len(latents):
            raise ValueError(f"{len(prompts)} prompts for {len(latents)} images")
        return cls(latents, prompts, ExemplarSampler(len(prompts), generator))


def check_templates(action: Action, method: str) -> None:
    """Every exemplar's caption template needs the ``{}`` slot: the identifier goes there."""
    for exemplar in action.exemplars:
        if TEMPLATE_SLOT not in exemplar.template:
            raise ActionBenchError(
                f"the caption template of exemplar {exemplar.image_path.name} of action '{action.name}' "
                f"('{exemplar.template}') has no {{}} slot for {method}'s identifier",
                "write {} where the action goes, e.g. 'a man {} on a beach'")


def fill_template(template: str, words: str) -> str:
    """A caption template with the identifier (or words) in its ``{}`` slot, spaces normalised."""
    return " ".join(template.replace(TEMPLATE_SLOT, words).split())


def training_prompts(action: Action, identifier: str) -> list[str]:
    """One training prompt per exemplar: its own caption with the identifier (ReVersion's and
    ActionBench's convention), in the order of ``action.exemplars``."""
    return [fill_template(e.template, identifier) for e in action.exemplars]


def encode_prompts(pipe, prompts: list[str]) -> torch.Tensor:
    """Prompt strings -> the text encoder's last hidden states (with gradients where parameters allow)."""
    tokens = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids.to(pipe.text_encoder.device)
    return pipe.text_encoder(tokens)[0]


def add_placeholder_tokens(pipe, tokens: list[str], initializer: str) -> list[int]:
    """Add new tokens to the tokenizer and give each the embedding of ``initializer``'s first token."""
    added = pipe.tokenizer.add_tokens(tokens)
    if added != len(tokens):
        raise ActionBenchError(f"the tokenizer already contains one of {tokens}", "choose another placeholder token")
    ids = pipe.tokenizer.convert_tokens_to_ids(tokens)
    init_ids = pipe.tokenizer.encode(initializer, add_special_tokens=False)
    if not init_ids:
        raise ActionBenchError(f"initializer word '{initializer}' is empty after tokenizing", "choose a word")
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer), mean_resizing=False)
    embeddings = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for token_id in ids:
            embeddings[token_id] = embeddings[init_ids[0]].clone()
    return ids
