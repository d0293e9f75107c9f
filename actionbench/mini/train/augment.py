"""Augmentations that make scorers robust to generated images: VAE round trips, blur and noise.

Generated images are the autoencoder's decodings, softer than renders; a scorer trained on renders
only may fail on them. Half of each scorer batch is therefore the autoencoder's reconstruction of a
render (computed once), and a few are blurred or noised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.mini.datasets import Dataset, load_or_render
from actionbench.mini.train.loop import default_workdir, to_unit_range

SCORER_COUNT = 40_000  # renders the scorers (CLIP, keypoints, judge) train on, the same rows for all
EVAL_COUNT = 2_000


def scorer_data(workdir: Path) -> tuple[Dataset, Dataset, np.ndarray | None]:
    """The scorers' training renders, evaluation renders and the training renders' VAE
    reconstructions (computed once, shared beside the scorers' work folders)."""
    data = load_or_render("scorer", SCORER_COUNT)
    evaluation = load_or_render("eval", EVAL_COUNT)
    return data, evaluation, vae_reconstructions(data.images, workdir.parent / "scorer-recon.npy")


@torch.no_grad()
def vae_reconstructions(images: np.ndarray, cache: Path, vae_dir: Path | None = None) -> np.ndarray | None:
    """The exported autoencoder's reconstructions of ``images`` (uint8), cached; None without a VAE."""
    if cache.is_file():
        return np.load(cache)
    vae_dir = Path(vae_dir or default_workdir("vae") / "export")
    if not (vae_dir / "config.json").is_file():
        return None
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    out = np.zeros_like(images)
    for start in range(0, len(images), 512):
        pixels = to_unit_range(images[start:start + 512])
        decoded = vae.decode(vae.encode(pixels).latent_dist.sample()).sample
        out[start:start + 512] = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def batch_images(images: np.ndarray, recon: np.ndarray | None, index: np.ndarray,
                 rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """Renders or their reconstructions (half each), some blurred, some noised; in [-1, 1]."""
    use_recon = rng.random(len(index)) < 0.5 if recon is not None else np.zeros(len(index), bool)
    chosen = np.where(use_recon[:, None, None, None], recon[index] if recon is not None else 0, images[index])
    x = to_unit_range(np.ascontiguousarray(chosen.astype(np.uint8)))
    blur = torch.from_numpy(rng.random(len(index)) < 0.15)
    if blur.any():
        kernel = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=x.dtype) / 16
        soft = F.conv2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), kernel.expand(3, 1, 3, 3), groups=3)
        x[blur] = soft
    noise = torch.from_numpy(rng.random(len(index)) < 0.2)
    if noise.any():
        x[noise] = x[noise] + 0.06 * torch.randn(x[noise].shape, generator=generator)
    return x
