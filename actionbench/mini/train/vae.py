"""Train the mini world's autoencoder: 32x32 RGB <-> 8x8x4 latents (diffusers ``AutoencoderKL``).

Loss: L1 + MSE on pixels, weighted 5x on the figure (the render's mask) and 4 more around its head,
where the small species cues are; plus a tiny KL term as in Stable Diffusion's autoencoder (1e-6). No adversarial loss: at 32 px
the figures are flat-coloured shapes and a pixel loss reconstructs them. The exported model carries
``scaling_factor`` = 1 / std of its latents, as Stable Diffusion's does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.mini.datasets import load_or_render
from actionbench.mini.models import vae_config
from actionbench.mini.train.loop import Trainer, TrainSettings, default_workdir, to_unit_range

DEFAULTS = TrainSettings(steps=5000, batch_size=64, lr=1e-3, warmup=100, save_every=250, log_every=50)
# The first steps train on random 16x16 crops (on the 4-pixel latent grid): the autoencoder is
# convolutional, so it learns the same local shapes at a quarter of the cost (Stable Diffusion's
# autoencoder is likewise trained on crops); the rest use whole images.
CROP = 16
CROP_STEPS = 2550
# The species' cues (ears, hair, beak, antenna) sit around the head: pixels within this many torso
# lengths of the nose weigh HEAD_WEIGHT more, so the cues survive the 8x8 latents.
HEAD_RADIUS = 0.6
HEAD_WEIGHT = 4.0
FIGURE_WEIGHT = 4.0
KL_WEIGHT = 1e-6
PRETRAIN_COUNT = 80_000


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(**vae_config())


def head_region(joints: np.ndarray, size: int = 32) -> torch.Tensor:
    """(N, size, size) 1 within HEAD_RADIUS torso lengths of the nose, else 0 (0 without a figure)."""
    joints = np.nan_to_num(joints, nan=-1e3)
    nose = joints[:, 0]
    torso = np.linalg.norm((joints[:, 5] + joints[:, 6]) / 2 - (joints[:, 11] + joints[:, 12]) / 2, axis=-1)
    centres = np.arange(size) + 0.5
    dx = centres[None, None, :] - nose[:, 0, None, None]
    dy = centres[None, :, None] - nose[:, 1, None, None]
    return torch.from_numpy(((dx**2 + dy**2) <= (HEAD_RADIUS * torso[:, None, None]) ** 2).astype(np.float32))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1]."""
    mse = F.mse_loss((a.clamp(-1, 1) + 1) / 2, (b + 1) / 2).item()
    return float(10 * np.log10(1.0 / max(mse, 1e-10)))


def train(settings: TrainSettings = DEFAULTS, workdir: Path | None = None) -> Path:
    workdir = Path(workdir or default_workdir("vae"))
    data = load_or_render("pretrain", PRETRAIN_COUNT)
    evaluation = load_or_render("eval", 512)
    torch.manual_seed(settings.seed)
    vae = build_vae()
    trainer = Trainer(workdir, {"vae": vae}, settings)

    def step(t: Trainer) -> dict[str, float]:
        rng = t.rng()
        index = rng.integers(0, len(data), settings.batch_size)
        pixels = to_unit_range(data.images[index])
        weight = 1.0 + FIGURE_WEIGHT * torch.from_numpy(data.masks[index]).float().div(255).unsqueeze(1)
        weight = weight + HEAD_WEIGHT * head_region(data.joints[index]).unsqueeze(1)
        if t.step < CROP_STEPS:
            y, x = (int(v) * 4 for v in rng.integers(0, (32 - CROP) // 4 + 1, 2))
            pixels, weight = pixels[..., y:y + CROP, x:x + CROP], weight[..., y:y + CROP, x:x + CROP]
        posterior = vae.encode(pixels).latent_dist
        latents = posterior.sample(generator=t.torch_generator())
        output = vae.decode(latents).sample
        error = (output - pixels).abs() + (output - pixels).pow(2)
        reconstruction = (error * weight).mean()
        kl = posterior.kl().mean() / pixels[0].numel()
        loss = reconstruction + KL_WEIGHT * kl
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        t.optimizer.step()
        return {"loss": loss.item(), "psnr": psnr(output.detach(), pixels)}

    def evaluate(t: Trainer) -> dict[str, float]:
        return {"eval_psnr": evaluate_psnr(vae, evaluation.images)}

    trainer.run(step, evaluate)
    if trainer.done:
        export(vae.eval(), data.images, workdir / "export")
    return workdir


@torch.no_grad()
def evaluate_psnr(vae, images: np.ndarray) -> float:
    vae.eval()
    pixels = to_unit_range(images)
    output = torch.cat([vae.decode(vae.encode(chunk).latent_dist.mode()).sample for chunk in pixels.split(128)])
    return psnr(output, pixels)


@torch.no_grad()
def export(vae, images: np.ndarray, folder: Path) -> Path:
    """Set ``scaling_factor`` from the latents' spread and save with ``save_pretrained``."""
    pixels = to_unit_range(images[:2048])
    latents = torch.cat([vae.encode(chunk).latent_dist.mode() for chunk in pixels.split(256)])
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    vae.save_pretrained(folder)
    return folder
