"""Seeded, batched sampling shared by every method: the same (prompt, seed) gives the same image.

Each image's starting noise comes from its own ``torch.Generator`` seeded with its seed, so which
other prompts share its batch does not change what it depicts; the pixels may still differ by
float rounding (up to 1/255 on CPU) between batch compositions, which is why the runner always
generates the same fixed batches, also when it resumes.

Sampling runs under ``torch.inference_mode`` (the pipeline itself only turns gradients off): the
same kernels on the same inputs, so the same pixels, with less bookkeeping per operation
(``benchmarks/generation_speed.py``: about 1.15x on a mini unit). Only PIL images leave it, so no
inference tensor can reach a later training step.
"""

from __future__ import annotations

import torch
from PIL import Image


def sample_images(pipe, prompts: list[str], seeds: list[int], config, *, prompt_embeds_fn=None,
                  cross_attention_kwargs: dict | None = None) -> list[Image.Image]:
    """Run ``pipe`` over (prompt, seed) pairs in batches of ``config.generation_batch_size``.

    ``prompt_embeds_fn(prompts) -> tensor`` lets a method encode prompts its own way (layer-wise
    identifiers); otherwise the pipeline's text encoder reads the prompt strings.
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    device = pipe.device
    images: list[Image.Image] = []
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    for start in range(0, len(prompts), config.generation_batch_size):
        batch_prompts = prompts[start:start + config.generation_batch_size]
        batch_seeds = seeds[start:start + config.generation_batch_size]
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in batch_seeds]
        latents = torch.cat([
            torch.randn((1, pipe.unet.config.in_channels, size // pipe.vae_scale_factor,
                         size // pipe.vae_scale_factor), generator=g, dtype=pipe.unet.dtype)
            for g in generators]).to(device)
        kwargs = dict(num_inference_steps=config.num_inference_steps, guidance_scale=config.guidance_scale,
                      latents=latents, height=size, width=size, output_type="pil")
        if cross_attention_kwargs:
            kwargs["cross_attention_kwargs"] = cross_attention_kwargs
        with torch.inference_mode():
            if prompt_embeds_fn is not None:
                positive, negative = prompt_embeds_fn(batch_prompts)
                result = pipe(prompt_embeds=positive, negative_prompt_embeds=negative, **kwargs)
            else:
                result = pipe(prompt=batch_prompts, **kwargs)
        images.extend(result.images)
    return images
