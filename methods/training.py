"""What every trainable method shares, written once: data, noise, timesteps, the loss, precision.

Follows diffusers' training examples (``examples/textual_inversion``, ``examples/dreambooth``):
DDPM noise schedule from the base model's scheduler config, uniformly drawn timesteps unless a
method weights them, epsilon or v-prediction targets per the scheduler config, frozen VAE. The
exemplars' latent distributions are encoded once per training (the VAE never changes) and a latent
is drawn from them at every step, as the examples do by encoding each step.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.data import Action
from actionbench.data.preprocess import exemplar_image
from actionbench.errors import ActionBenchError


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for the method's own draws."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


def encode_exemplars(pipe, action: Action, size: int) -> ExemplarLatents:
    return encode_images(pipe, [exemplar_image(e, size) for e in action.exemplars])


def training_scheduler(pipe):
    """DDPM over the base model's noise schedule (as diffusers' training examples do)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler.config)


def sample_timesteps(scheduler, batch: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform timesteps, or drawn with probability proportional to ``weights`` (one per timestep)."""
    count = scheduler.config.num_train_timesteps
    if weights is None:
        return torch.randint(0, count, (batch,), generator=generator)
    return torch.multinomial(weights / weights.sum(), batch, replacement=True, generator=generator)


def denoising_loss(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                   timesteps: torch.Tensor, noise: torch.Tensor, reduction: str = "mean",
                   cross_attention_kwargs: dict | None = None) -> torch.Tensor:
    """The diffusion objective: MSE between the UNet's prediction and its target.

    ``reduction="none"`` returns one loss per sample (used by ADI to read per-sample gradients).
    """
    device = pipe.unet.device
    timesteps = timesteps.to(device)
    noise = noise.to(device, latents.dtype)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = pipe.unet(noisy, timesteps, encoder_hidden_states,
                           cross_attention_kwargs=cross_attention_kwargs).sample
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        raise ActionBenchError(f"the base model's scheduler predicts '{kind}'", "use an epsilon or v-prediction model")
    loss = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return loss.mean() if reduction == "mean" else loss


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


def freeze(*modules) -> None:
    for module in modules:
        module.requires_grad_(False)


def autocast(config, device: torch.device):
    """bf16/fp16 autocast when ``config.mixed_precision`` asks for it, else nothing."""
    if config.mixed_precision == "no":
        return contextlib.nullcontext()
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    if config.mixed_precision not in dtypes:
        raise ActionBenchError(f"mixed_precision is '{config.mixed_precision}'", "use no, fp16 or bf16")
    return torch.autocast(device_type=device.type, dtype=dtypes[config.mixed_precision])


def apply_memory_options(pipe, config) -> None:
    """Gradient checkpointing and the attention implementation, as chosen in the config."""
    if config.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        pipe.text_encoder.gradient_checkpointing_enable()
    if config.attention == "sdpa":
        from diffusers.models.attention_processor import AttnProcessor2_0

        pipe.unet.set_attn_processor(AttnProcessor2_0())
    elif config.attention == "default":
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())
    else:
        raise ActionBenchError(f"attention is '{config.attention}'", "use sdpa or default")


def make_optimizer(parameters, lr: float, config, weight_decay: float = 1e-2):
    """AdamW (diffusers' examples' defaults), or bitsandbytes' 8-bit AdamW when asked and installed."""
    parameters = list(parameters)
    if config.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError as error:
            raise ActionBenchError("use_8bit_adam needs bitsandbytes", "pip install bitsandbytes, or turn it off") from error
        return bnb.optim.AdamW8bit(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8)
    return torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8)


def scaled_learning_rate(lr: float, config, scale: bool) -> float:
    """diffusers' ``--scale_lr``: lr x batch size x accumulation steps."""
    return lr * config.train_batch_size * config.gradient_accumulation_steps if scale else lr


@torch.no_grad()
def fixed_evaluation_loss(pipe, latents: torch.Tensor, encoder_hidden_states: torch.Tensor, seed: int = 1234,
                          cross_attention_kwargs: dict | None = None) -> float:
    """Denoising loss on held-fixed noise and timesteps: comparable before and after training."""
    scheduler = training_scheduler(pipe)
    generator = torch.Generator().manual_seed(seed)
    count = scheduler.config.num_train_timesteps
    timesteps = torch.linspace(count * 0.1, count * 0.9, latents.shape[0]).long()
    noise = torch.randn(latents.shape, generator=generator)
    return float(denoising_loss(pipe, scheduler, latents, encoder_hidden_states, timesteps, noise,
                                cross_attention_kwargs=cross_attention_kwargs))
