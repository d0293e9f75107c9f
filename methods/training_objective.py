"""The diffusion objective, written once: noise schedule, timesteps, prediction target, loss.

As diffusers' training examples: DDPM noise schedule from the base model's scheduler config,
uniformly drawn timesteps unless a method weights them, epsilon or v-prediction targets per the
scheduler config, MSE in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from actionbench.errors import ActionBenchError
from actionbench.methods.training_data import TrainingImages, encode_prompts


def require_sd_like(pipe) -> None:
    """The training code needs Stable Diffusion's pieces: a text-conditioned UNet without extra
    conditioning (SDXL's), a CLIP-like text encoder with a token table, a VAE, an epsilon or
    v-prediction noise schedule."""
    from diffusers import UNet2DConditionModel

    unet = getattr(pipe, "unet", None)
    problem = None
    if not isinstance(unet, UNet2DConditionModel) or not unet.config.cross_attention_dim:
        problem = f"its denoiser is {type(unet).__name__}, not a text-conditioned UNet2DConditionModel"
    elif unet.config.addition_embed_type is not None:
        problem = f"its UNet needs extra '{unet.config.addition_embed_type}' conditioning (SDXL-like)"
    elif not hasattr(getattr(pipe, "text_encoder", None), "get_input_embeddings"):
        problem = "it has no text encoder with a token embedding table"
    elif not hasattr(getattr(pipe, "tokenizer", None), "add_tokens"):
        problem = "it has no tokenizer that accepts new tokens"
    elif not hasattr(getattr(pipe, "vae", None), "encode"):
        problem = "it has no VAE"
    elif pipe.scheduler.config.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction"):
        problem = f"its scheduler predicts '{pipe.scheduler.config.prediction_type}'"
    if problem:
        raise ActionBenchError(f"the base model is not Stable Diffusion-like ({problem})",
                               "use an SD 1.x/2.x checkpoint")

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


def prediction_and_target(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                          timesteps: torch.Tensor, noise: torch.Tensor,
                          cross_attention_kwargs: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The UNet's prediction on the noised latents and its target, unreduced (a method may mask them)."""
    device = pipe.unet.device
    timesteps = timesteps.to(device)
    noise = noise.to(device, latents.dtype)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = pipe.unet(noisy, timesteps, encoder_hidden_states,
                           cross_attention_kwargs=cross_attention_kwargs).sample
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return prediction, noise
    if kind == "v_prediction":
        return prediction, scheduler.get_velocity(latents, noise, timesteps)
    raise ActionBenchError(f"the base model's scheduler predicts '{kind}'", "use an epsilon or v-prediction model")


def denoising_loss(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                   timesteps: torch.Tensor, noise: torch.Tensor, reduction: str = "mean",
                   cross_attention_kwargs: dict | None = None) -> torch.Tensor:
    """The diffusion objective: MSE between the UNet's prediction and its target.

    ``reduction="none"`` returns one loss per sample (used by ADI to read per-sample gradients).
    """
    loss = squared_error(pipe, scheduler, latents, encoder_hidden_states, timesteps, noise,
                         cross_attention_kwargs).mean(dim=(1, 2, 3))
    return loss.mean() if reduction == "mean" else loss


def squared_error(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                  timesteps: torch.Tensor, noise: torch.Tensor,
                  cross_attention_kwargs: dict | None = None) -> torch.Tensor:
    """The unreduced squared error (rows, C, H, W; float32) between prediction and target: the
    objective before any mean (Custom Diffusion masks it)."""
    prediction, target = prediction_and_target(pipe, scheduler, latents, encoder_hidden_states, timesteps, noise,
                                               cross_attention_kwargs)
    return F.mse_loss(prediction.float(), target.float(), reduction="none")


@dataclass
class DrawnBatch:
    """One micro-batch's random draws: a latent from each image's posterior, noise, timesteps, and the
    images' prompts. Drawn before any forward pass, so a loop can draw several and run them as one."""

    latents: torch.Tensor
    noise: torch.Tensor
    timesteps: torch.Tensor
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.prompts)

    @classmethod
    def cat(cls, batches: list["DrawnBatch"]) -> "DrawnBatch":
        """The rows of ``batches``, in order."""
        return cls(torch.cat([b.latents for b in batches]), torch.cat([b.noise for b in batches]),
                   torch.cat([b.timesteps for b in batches]), [p for b in batches for p in b.prompts])


def draw_batch(scheduler, images: TrainingImages, batch: int, generator: torch.Generator,
               timestep_weights: torch.Tensor | None = None) -> DrawnBatch:
    """Draw images (in their epoch order), a latent from each posterior, noise and timesteps."""
    indices = images.sampler.draw(batch)
    latents = images.latents.sample(indices, generator)
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = sample_timesteps(scheduler, batch, generator, timestep_weights)
    return DrawnBatch(latents, noise, timesteps, [images.prompts[i] for i in indices.tolist()])


def batch_losses(pipe, scheduler, batch: DrawnBatch, encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
    """Every row's denoising loss on a drawn batch; the condition is its prompts' encoding unless given."""
    hidden = encode_prompts(pipe, batch.prompts) if encoder_hidden_states is None else encoder_hidden_states
    return denoising_loss(pipe, scheduler, batch.latents, hidden, batch.timesteps, batch.noise, reduction="none")


def part_means(rows: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The mean of each consecutive part of ``rows`` (one per micro-batch), each reduced as that part's
    own ``rows.mean()`` would be: one part gives exactly the unfused loss."""
    return torch.stack([part.mean() for part in rows.split(sizes)])


def part_errors(pipe, scheduler, parts: list[DrawnBatch], together: bool) -> list[torch.Tensor]:
    """Each drawn part's unreduced squared error (rows, C, H, W; float32), conditioned on its prompts:
    every row in one forward pass (``together``), or one pass per part (less memory)."""
    def errors(batch: DrawnBatch) -> torch.Tensor:
        return squared_error(pipe, scheduler, batch.latents, encode_prompts(pipe, batch.prompts), batch.timesteps,
                             batch.noise)

    if together:
        return list(errors(DrawnBatch.cat(parts)).split([len(p) for p in parts]))
    return [errors(part) for part in parts]


def mean_losses(pipe, scheduler, parts: list[DrawnBatch], together: bool) -> torch.Tensor:
    """Each drawn part's mean denoising loss, ``(len(parts),)`` (:func:`part_errors`)."""
    return torch.stack([error.mean(dim=(1, 2, 3)).mean() for error in part_errors(pipe, scheduler, parts, together)])


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
