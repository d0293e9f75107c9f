"""Augmentations that make scorers robust to generated images: VAE round trips, blur and noise.

Generated images are the autoencoder's decodings, softer than renders; a scorer trained on renders
only may fail on them. Half of each scorer batch is therefore the autoencoder's reconstruction of a
render (computed once), and a few are blurred or noised.

A pose estimator must also say "no figure" where there is none: an empty scene is one case, but a
flat image, noise, or a scene blurred past reading are others a method can hand it (the ``blank``
control's flat grey image was read as a figure). :func:`no_figure_images` makes such negatives for
the keypoint network's presence head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.fileio import atomic_path, file_sha256
from actionbench.mini.datasets import Dataset, dataset_path, load_or_render
from actionbench.mini.train.loop import default_workdir, to_unit_range
from actionbench.paths import cache_dir

SCORER_COUNT = 40_000  # renders the scorers (CLIP, keypoints, judge) train on, the same rows for all
EVAL_COUNT = 2_000
NO_FIGURE_FRACTION = 0.15  # rows of a keypoint batch replaced by an image that shows no figure


def scorer_data() -> tuple[Dataset, Dataset, np.ndarray | None]:
    """The scorers' training renders, evaluation renders and the training renders' VAE
    reconstructions (computed once per autoencoder, shared by the three scorers' trainings)."""
    data = load_or_render("scorer", SCORER_COUNT)
    evaluation = load_or_render("eval", EVAL_COUNT)
    return data, evaluation, vae_reconstructions(data.images, dataset_path("scorer", SCORER_COUNT).stem)


def scorer_vae_dir(vae_dir: Path | None = None) -> Path | None:
    """The autoencoder the reconstructions come from: the one trained here, else the shipped one (the
    same, in fp16); None without either."""
    for folder in (Path(vae_dir or default_workdir("vae") / "export"), shipped_vae_dir()):
        if (folder / "config.json").is_file():
            return folder
    return None


def reconstruction_cache(dataset: str, vae_dir: Path) -> Path:
    """Where the reconstructions are kept: in the suite's cache, like the renders they are made from
    (``datasets.dataset_path``), not beside a ``--workdir`` (whose parent is the user's folder); named by
    the dataset and the autoencoder's weights, so a retrained autoencoder never reuses another's."""
    weights = file_sha256(vae_dir / "diffusion_pytorch_model.safetensors")[:12]
    return cache_dir("mini", "recon") / f"{dataset}-vae-{weights}.npy"


def load_reconstructions(cache: Path, images: np.ndarray) -> np.ndarray | None:
    """The cached reconstructions of ``images``, or None when the file is absent, unreadable or not
    uint8 images of their shape (damaged, or put there by hand): they are then recomputed, not trusted."""
    try:
        cached = np.load(cache, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(cached, np.ndarray) or cached.shape != images.shape or cached.dtype != np.uint8:
        return None
    return cached


@torch.no_grad()
def vae_reconstructions(images: np.ndarray, dataset: str, vae_dir: Path | None = None) -> np.ndarray | None:
    """The autoencoder's reconstructions of ``images`` (uint8, the rows of ``dataset``), cached; None
    without a VAE."""
    vae_dir = scorer_vae_dir(vae_dir)
    if vae_dir is None:
        return None
    cache = reconstruction_cache(dataset, vae_dir)
    cached = load_reconstructions(cache, images)
    if cached is not None:
        return cached
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    out = np.zeros_like(images)
    for start in range(0, len(images), 512):
        pixels = to_unit_range(images[start:start + 512])
        decoded = vae.decode(vae.encode(pixels).latent_dist.sample()).sample
        out[start:start + 512] = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    with atomic_path(cache, needed=out.nbytes) as temp, open(temp, "wb") as handle:
        np.save(handle, out)  # a handle: np.save would add ".npy" to the temporary file's name
    return out


def shipped_vae_dir() -> Path:
    from actionbench.mini.models import PIPELINE_DIR

    return PIPELINE_DIR / "vae"


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


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of images (N, C, H, W) with standard deviation ``sigma`` pixels."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


SOFTEN_FRACTION = 0.3  # rows of a keypoint batch blurred like the judge's degradation levels
SOFTEN_SIGMAS = (0.5, 0.75, 1.0, 1.25)  # pixels: around docs/judge.md's levels, figures still readable by eye


def soften(x: torch.Tensor, rng: np.random.Generator, fraction: float = SOFTEN_FRACTION) -> torch.Tensor:
    """Blur ``fraction`` of the rows by a Gaussian of a sigma drawn from :data:`SOFTEN_SIGMAS`: generated
    images are autoencoder decodings, often softer than the reconstruction of a render, and the pose
    estimator must read them as exactly as it reads renders."""
    chosen = rng.random(len(x)) < fraction
    sigmas = rng.integers(0, len(SOFTEN_SIGMAS), len(x))
    for k, sigma in enumerate(SOFTEN_SIGMAS):
        rows = torch.from_numpy(chosen & (sigmas == k))
        if rows.any():
            x[rows] = gaussian_blur(x[rows], sigma)
    return x


# --- images that show no figure -------------------------------------------------------------------------
# Each maker turns n source images (renders or reconstructions, [-1, 1], (n, 3, 32, 32)) into n images in
# which no figure can be seen; sources give the world's colours, so negatives are not told apart by palette.

def _flat(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """One colour, any colour (the ``blank`` control is mid-grey)."""
    colours = torch.from_numpy(rng.uniform(-1, 1, (len(source), 3, 1, 1)).astype(np.float32))
    return colours.expand_as(source).clone()


def _noise(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of any strength around one colour."""
    n = len(source)
    mean = torch.from_numpy(rng.uniform(-1, 1, (n, 3, 1, 1)).astype(np.float32))
    sigma = torch.from_numpy(rng.uniform(0.05, 1.0, (n, 1, 1, 1)).astype(np.float32))
    return (mean + sigma * torch.randn(source.shape, generator=generator)).clamp(-1, 1)


def _blobs(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """Smooth colour fields: a random 2x2 to 6x6 grid of colours, upsampled."""
    cells = int(rng.integers(2, 7))
    grid = torch.rand((len(source), 3, cells, cells), generator=generator) * 2 - 1
    return F.interpolate(grid, size=source.shape[-2:], mode="bilinear", align_corners=False)


def _blurred_away(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """A scene averaged down to 1x1 to 4x4 pixels and blown up again: its colours, no figure left."""
    cells = int(rng.integers(1, 5))
    small = F.adaptive_avg_pool2d(source, cells)
    return F.interpolate(small, size=source.shape[-2:], mode="bilinear", align_corners=False)


def _shuffled(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """A scene's own pixels in random places: every colour of the figure, no shape."""
    n, c, h, w = source.shape
    order = torch.from_numpy(np.argsort(rng.random((n, h * w)), axis=1))
    flat = source.flatten(2)
    return flat.gather(2, order[:, None, :].expand(n, c, h * w)).view(n, c, h, w)


NO_FIGURE_MAKERS = {"flat": _flat, "noise": _noise, "blobs": _blobs, "blurred_away": _blurred_away,
                    "shuffled": _shuffled}


def no_figure_images(source: torch.Tensor, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """Images that show no figure, one per source image, each made by a maker drawn at random."""
    out = torch.empty_like(source)
    kinds = rng.integers(0, len(NO_FIGURE_MAKERS), len(source))
    for k, make in enumerate(NO_FIGURE_MAKERS.values()):
        chosen = torch.from_numpy(kinds == k)
        if chosen.any():
            out[chosen] = make(source[chosen], rng, generator)
    return out
