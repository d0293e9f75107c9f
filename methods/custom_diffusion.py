"""Custom Diffusion: fine-tune only the cross-attention key and value projections, plus a new token.

Kumari et al., "Multi-Concept Customization of Text-to-Image Diffusion", CVPR 2023, trained as
diffusers' ``examples/custom_diffusion/train_custom_diffusion.py`` does: Custom Diffusion attention
processors on every cross-attention layer (``--freeze_model crossattn_kv``: new K/V weights
initialised from the originals), a modifier token ``<new1>`` initialised from ``ktn``, AdamW on both,
gradients clipped at 1.0, prior preservation on generated class images (the example's default
without ``--real_prior``; retrieving real LAION images is not possible offline), and its
random-scale augmentation: an exemplar is shrunk (2/3 of the time, with "a far away"/"very small" in
the prompt when below 0.6x) or enlarged and cropped ("zoomed in"/"close up"), and the loss is
masked to the image's area. Never flipped (the example's ``--hflip`` is off; actions are chiral).

Artifact, the files diffusers' example writes: ``pytorch_custom_diffusion_weights.bin`` (saved by
``unet.save_attn_procs(..., safe_serialization=False)``) and the token in textual-inversion format.
Load it with :func:`load_custom_diffusion`. Two diffusers 0.42 bugs shape this: the safetensors
variant drops the empty entries of the self-attention layers, which ``load_attn_procs`` then needs
(``set_attn_processor`` wants one processor per layer), and ``unet.load_attn_procs(folder)`` without
the pipeline silently installs nothing (huggingface/diffusers#9320), so the loader passes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from actionbench.data import Action, fill_action
from actionbench.data.preprocess import POLICY, exemplar_image
from actionbench.errors import ActionBenchError
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.generation import sample_images
from actionbench.methods.prior_preservation import CLASS_PROMPT, class_image_settings, class_images, with_prior_loss
from actionbench.methods.textual_inversion import save_learned_embeds
from actionbench.methods.token_rows import learned_token_rows
from actionbench.methods.training import (
    DrawnBatch, SplitMicroStep, TrainingImages, add_placeholder_tokens, apply_memory_options, check_templates,
    check_training_options, draw_batch, encode_images, encode_images_batched, freeze, load_once, part_errors,
    pil_to_tensor, read_artifact_info, require_sd_like, run_updates, sample_timesteps,
    scaled_learning_rate, seed_all, training_prompts, training_resolution, training_scheduler,
    write_artifact_info)

MaskedBatch = tuple[DrawnBatch, "torch.Tensor | None"]  # a drawn batch and its loss mask (None: the whole image)

WEIGHTS_FILE = "pytorch_custom_diffusion_weights.bin"


@dataclass
class CustomDiffusionConfig(MethodConfig):
    # diffusers examples/custom_diffusion/README.md single-concept command, unless noted.
    steps: int = 250  # --max_train_steps=250
    learning_rate: float = 1e-5  # --learning_rate=1e-5
    scale_lr: bool = True  # --scale_lr: x batch x accumulation, then x2 with prior preservation (the script)
    train_batch_size: int = 2  # --train_batch_size=2
    with_prior_preservation: bool = True  # --with_prior_preservation
    prior_loss_weight: float = 1.0  # --prior_loss_weight=1.0
    num_class_images: int = 200  # --num_class_images=200
    class_prompt: str = CLASS_PROMPT  # our choice for actions (the README's is "cat")
    modifier_token: str = "<new1>"  # --modifier_token "<new1>"
    initializer_token: str = "ktn"  # train_custom_diffusion.py's --initializer_token default
    augment: bool = True  # the script's random-scale augmentation (on unless --noaug)
    max_grad_norm: float = 1.0  # the script's --max_grad_norm default


def custom_diffusion_processors(unet, attention: str) -> dict:
    """One processor per attention layer: trainable K/V (initialised from the layer's) on cross-attention,
    plain on self-attention, as the example builds them."""
    from diffusers.models.attention_processor import CustomDiffusionAttnProcessor, CustomDiffusionAttnProcessor2_0

    processor_class = CustomDiffusionAttnProcessor2_0 if attention == "sdpa" else CustomDiffusionAttnProcessor
    weights = unet.state_dict()
    processors = {}
    for name in unet.attn_processors:
        layer = name[: -len(".processor")]
        if name.endswith("attn2.processor"):
            key, value = weights[f"{layer}.to_k.weight"], weights[f"{layer}.to_v.weight"]
            processor = processor_class(train_kv=True, train_q_out=False, hidden_size=key.shape[0],
                                        cross_attention_dim=key.shape[1])
            processor.load_state_dict({"to_k_custom_diffusion.weight": key, "to_v_custom_diffusion.weight": value})
            processors[name] = processor.to(unet.device)
        else:
            processors[name] = processor_class(train_kv=False, train_q_out=False, hidden_size=None,
                                               cross_attention_dim=None)
    return processors


def load_custom_diffusion(pipe, folder: Path, attention: str = "default") -> None:
    """Load a Custom Diffusion artifact through diffusers' loaders: K/V processors, then the token.

    diffusers' loader installs the plain processors, which materialise every attention matrix;
    ``attention="sdpa"`` then swaps in the SDPA variant with the same weights (what the example trains
    with; same images up to float rounding, far less memory at 768 px).
    """
    from diffusers.models.attention_processor import CustomDiffusionAttnProcessor, CustomDiffusionAttnProcessor2_0

    # _pipeline makes load_attn_procs actually install the processors (diffusers#9320).
    pipe.unet.load_attn_procs(str(folder), weight_name=WEIGHTS_FILE, _pipeline=pipe)
    loaded = pipe.unet.attn_processors
    if not any(isinstance(p, CustomDiffusionAttnProcessor) for p in loaded.values()):
        raise RuntimeError(f"diffusers did not install the Custom Diffusion processors of {folder}")
    if attention == "sdpa":
        swapped = {}
        for name, old in loaded.items():
            new = CustomDiffusionAttnProcessor2_0(train_kv=old.train_kv, train_q_out=old.train_q_out,
                                                  hidden_size=old.hidden_size,
                                                  cross_attention_dim=old.cross_attention_dim)
            new.load_state_dict(old.state_dict())
            swapped[name] = new.to(pipe.device, pipe.unet.dtype)
        pipe.unet.set_attn_processor(swapped)
    pipe.load_textual_inversion(str(folder))


def random_scale(image: Image.Image, size: int, latent_size: int, rng: np.random.Generator):
    """The example's augmentation: (image tensor, latent-size loss mask, prompt prefix)."""
    if rng.uniform() < 0.66:
        scale = int(rng.integers(size // 3, size + 1))
    else:
        scale = int(rng.integers(int(1.2 * size), int(1.4 * size)))
    factor = size // latent_size
    resized = image.resize((scale, scale), Image.Resampling.BILINEAR)  # the script's interpolation
    pixels = pil_to_tensor([resized])[0]
    canvas = torch.zeros(3, size, size)
    mask = torch.zeros(latent_size, latent_size)
    if scale > size:
        top, left = (int(v) for v in rng.integers(0, scale - size + 1, size=2))
        canvas = pixels[:, top:top + size, left:left + size]
        mask[:] = 1.0
    else:
        top, left = (int(v) for v in rng.integers(0, size - scale + 1, size=2))
        canvas[:, top:top + scale, left:left + scale] = pixels
        mask[top // factor + 1:(top + scale) // factor - 1, left // factor + 1:(left + scale) // factor - 1] = 1.0
    if scale < 0.6 * size:
        prefix = str(rng.choice(["a far away ", "very small "]))
    elif scale > size:
        prefix = str(rng.choice(["zoomed in ", "close up "]))
    else:
        prefix = ""
    return canvas, mask, prefix


@METHODS.register("custom_diffusion")
class CustomDiffusion(Method):
    """Cross-attention K/V fine-tuning plus a new modifier token (load_attn_procs + load_textual_inversion)."""

    name = "custom_diffusion"
    paper = "Kumari et al., Multi-Concept Customization of Text-to-Image Diffusion, CVPR 2023"
    config_cls = CustomDiffusionConfig
    min_exemplars = 3  # as textual_inversion and dreambooth: our floor

    def check(self, action: Action, config: CustomDiffusionConfig) -> None:
        super().check(action, config)
        check_templates(action, self.name)
        check_training_options(config)
        if config.with_prior_preservation and config.num_class_images < 1:
            raise ActionBenchError(f"num_class_images is {config.num_class_images} with prior preservation on",
                                   "set num_class_images to 1 or more, or with_prior_preservation=false")

    def training_reads(self, config: CustomDiffusionConfig) -> tuple[str, ...]:
        return class_image_settings(config)

    def train(self, base, action: Action, config: CustomDiffusionConfig, out_dir: Path) -> Path:
        require_sd_like(base)
        started = time.perf_counter()
        generator = seed_all(config.seed)
        rng = np.random.default_rng(config.seed)
        size = training_resolution(base, config)
        device = base.unet.device
        prior = None
        if config.with_prior_preservation:
            pictures = class_images(base, config.class_prompt, config.num_class_images, size, config, self.cache_dir)
            prior = TrainingImages.build(encode_images_batched(base, pictures),
                                         [config.class_prompt] * len(pictures), generator)
        apply_memory_options(base, config)
        freeze(base.unet, base.vae, base.text_encoder)
        token_ids = add_placeholder_tokens(base, [config.modifier_token], config.initializer_token)
        base.unet.set_attn_processor(custom_diffusion_processors(base.unet, config.attention))
        kv_parameters = [p for p in base.unet.parameters() if p.requires_grad]
        scheduler = training_scheduler(base)
        photos = [exemplar_image(e, size) for e in action.exemplars]
        instance_prompts = training_prompts(action, config.modifier_token)
        instance = TrainingImages.build(encode_images(base, photos), instance_prompts, generator)
        latent_size = size // base.vae_scale_factor

        def augmented_batch() -> MaskedBatch:
            """The example's random-scale augmentation: resized exemplars, their latents and loss masks."""
            indices = instance.sampler.draw(config.train_batch_size).tolist()
            parts = [random_scale(photos[i], size, latent_size, rng) for i in indices]
            with torch.no_grad():
                pixels = torch.stack([p[0] for p in parts]).to(device, base.vae.dtype)
                posterior = base.vae.encode(pixels).latent_dist
                noise_for_latents = torch.randn(posterior.mean.shape, generator=generator).to(device)
                latents = (posterior.mean + posterior.std * noise_for_latents) * base.vae.config.scaling_factor
            mask = torch.stack([p[1] for p in parts]).unsqueeze(1).to(device)
            noise = torch.randn(latents.shape, generator=generator)
            timesteps = sample_timesteps(scheduler, len(indices), generator)
            prompts = [parts[k][2] + instance_prompts[i] for k, i in enumerate(indices)]
            return DrawnBatch(latents, noise, timesteps, prompts), mask

        def draw() -> list[MaskedBatch]:
            """A micro-step's instance batch (augmented or not), then its class-prior batch."""
            if config.augment:
                drawn = [augmented_batch()]
            else:
                drawn = [(draw_batch(scheduler, instance, config.train_batch_size, generator), None)]
            if prior is not None:
                drawn.append((draw_batch(scheduler, prior, config.train_batch_size, generator), None))
            return drawn

        def part_loss(error: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            if mask is None:
                return error.mean(dim=(1, 2, 3)).mean()
            # As the script: summed over latent channels, divided by the one-channel mask's area.
            return ((error * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3)).clamp(min=1)).mean()

        def micro_losses(draws: list[list[MaskedBatch]]) -> torch.Tensor:
            """Instance loss + prior_loss_weight x prior loss per micro-step: every row in one forward
            when fused, else one pass per batch."""
            parts = [part for drawn in draws for part in drawn]
            errors = part_errors(base, scheduler, [drawn for drawn, _ in parts], config.fuse_micro_steps)
            means = torch.stack([part_loss(error, mask) for error, (_, mask) in zip(errors, parts)]).view(len(draws), -1)
            return with_prior_loss(means, config.prior_loss_weight, prior is not None)

        lr = scaled_learning_rate(config.learning_rate, config, config.scale_lr)
        if config.scale_lr and prior is not None:
            lr *= 2.0  # train_custom_diffusion.py doubles the scaled rate with prior preservation
        base.unet.train()
        base.text_encoder.train()
        # The modifier token's row alone is learned (the script zeroes the other rows' gradients
        # before clipping; here they have none), so the clip reads the row's and the K/V gradients.
        with learned_token_rows(base, token_ids) as learned:
            history = run_updates([learned.rows] + kv_parameters, SplitMicroStep(draw, micro_losses), config.steps,
                                  lr, config, device, max_grad_norm=config.max_grad_norm, after_update=learned.write_back)
        base.unet.eval()
        base.text_encoder.eval()
        out_dir = Path(out_dir)
        base.unet.save_attn_procs(str(out_dir), weight_name=WEIGHTS_FILE, safe_serialization=False)
        save_learned_embeds(base, config.modifier_token, out_dir)
        write_artifact_info(out_dir, {
            "method": self.name, "identifier": config.modifier_token, "learning_rate": lr, "resolution": size,
            "preprocessing": POLICY, "augment": config.augment,
            "class_prompt": config.class_prompt if prior is not None else None,
            "class_images": len(prior.prompts) if prior is not None else 0, "loss_history": history,
            "seconds": round(time.perf_counter() - started, 3)})
        return out_dir

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        token = read_artifact_info(artifact)["identifier"]
        load_once(base, artifact, lambda: load_custom_diffusion(base, artifact, config.attention))
        return sample_images(base, [fill_action(p, token) for p in prompts], seeds, config)
