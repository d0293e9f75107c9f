"""The mini world's truth for controls and for measuring the judge: renders whose action is known.

``oracle_image`` draws the prompted subject (species, colour, scene) doing an action as the world
defines it (:func:`~actionbench.mini.benchmark.action_instance`, the distribution the exemplars are
drawn from, with seeds of its own), passed through the generator's autoencoder: what a
text-to-image model of this world could at best draw. ``wrong_action_for`` picks the other action
the ``wrong_action`` control draws. ``degradation_levels`` are the image qualities the judge is
measured at (``actionbench validate-judge --benchmark mini``): the render, the autoencoder's
reconstruction, then extra Gaussian blur, each with its measured distance from the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from actionbench.fileio import stable_hash
from actionbench.mini.benchmark import action_instance
from actionbench.mini.scenes import render
from actionbench.mini.world import HELD_OUT_ACTIONS

ORACLE_SEED = 6_000_000  # instances drawn for controls and truth sets never reuse an exemplar's seed


def instance_seed(action: str, factors: tuple[str, str, str], seed: int, salt: str = "oracle") -> int:
    """A seed for one instance of ``action`` by subject ``factors``, disjoint from the exemplars'
    (below 5e6); each subject gets its own instance, as a generator draws each prompt differently."""
    return ORACLE_SEED + int(stable_hash([salt, action, list(factors), int(seed)], 8), 16) % 1_000_000_000


def render_instance(action: str, factors: tuple[str, str, str], seed: int, salt: str = "oracle") -> Image.Image:
    """The subject ``factors`` = (species, colour, scene) doing ``action``, instance ``seed``, as rendered."""
    species, colour, scene = factors
    spec = action_instance(action, instance_seed(action, factors, seed, salt), species, colour, scene)
    return Image.fromarray(render(spec).image)


def wrong_action_for(action: str, seed: int) -> str:
    """The other held-out action the ``wrong_action`` control draws for image ``seed``: drawn from the
    seed among the 7 others, so a run's images cover many wrong actions, the same every time."""
    others = [name for name in HELD_OUT_ACTIONS if name != action]
    return others[int(stable_hash(["wrong", action, int(seed)], 8), 16) % len(others)]


def autoencode(vae, images: list[Image.Image]) -> list[Image.Image]:
    """Encode and decode through a diffusers ``AutoencoderKL`` (the latent mean, no sampling)."""
    import torch

    if not images:
        return []
    size = vae.config.sample_size if isinstance(vae.config.sample_size, int) else images[0].width
    resample = Image.Resampling.BICUBIC
    arrays = np.stack([np.asarray(i.convert("RGB").resize((size, size), resample), np.float32) for i in images])
    pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1.0
    parameter = next(vae.parameters())
    with torch.no_grad():
        latents = vae.encode(pixels.to(parameter.device, parameter.dtype)).latent_dist.mean
        decoded = vae.decode(latents).sample.float().clamp(-1, 1)
    out = ((decoded.permute(0, 2, 3, 1).cpu().numpy() + 1.0) * 127.5).round().astype(np.uint8)
    return [Image.fromarray(a) for a in out]


@dataclass(frozen=True)
class Level:
    """One image quality at which the judge is measured: how images get there from the render."""

    name: str
    blur: float  # extra Gaussian blur (pixels, standard deviation) after the autoencoder; <0: no autoencoder

    @property
    def autoencoded(self) -> bool:
        return self.blur >= 0


# The render; the autoencoder's reconstruction (the best the generator can draw); then extra blur.
LEVELS = (Level("render", -1.0), Level("autoencoder", 0.0), Level("autoencoder + blur 0.5 px", 0.5),
          Level("autoencoder + blur 0.75 px", 0.75), Level("autoencoder + blur 1.0 px", 1.0),
          Level("autoencoder + blur 1.5 px", 1.5))


def degrade(images: list[Image.Image], level: Level, vae) -> list[Image.Image]:
    if not level.autoencoded:
        return list(images)
    out = autoencode(vae, images)
    if level.blur > 0:
        out = [i.filter(ImageFilter.GaussianBlur(level.blur)) for i in out]
    return out


def distance(rendered: list[Image.Image], degraded: list[Image.Image]) -> float:
    """Mean absolute pixel difference (0..255) between renders and their degraded versions."""
    return float(np.mean([np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean()
                          for a, b in zip(rendered, degraded)])) if rendered else 0.0


def sharpness(images: list[Image.Image]) -> float:
    """Mean gradient magnitude (grey levels per pixel): falls as images blur; comparable with any
    images of the world, generated ones included."""
    values = []
    for image in images:
        grey = np.asarray(image.convert("L"), np.float32)
        gy, gx = np.gradient(grey)
        values.append(float(np.hypot(gx, gy).mean()))
    return float(np.mean(values)) if values else float("nan")


def truth_images(actions: list[str], subjects: list[tuple[str, str, str]], seeds: list[int],
                 make: Callable[[str, tuple[str, str, str], int], Image.Image]) -> dict[str, list[Image.Image]]:
    """``make(action, subject, seed)`` for every action, subject and seed, grouped by action."""
    return {a: [make(a, s, seed) for s in subjects for seed in seeds] for a in actions}


TRUTH_SEEDS = (0, 1, 2)  # instances per (action, subject) in validate-judge's truth sets


def mini_truth(benchmark, actions: list[str], seeds: tuple[int, ...] = TRUTH_SEEDS) -> list:
    """Truth sets for ``validate-judge``: every protocol subject doing each action, ``seeds``
    instances each, at every :data:`LEVELS` quality (the autoencoder is the benchmark's base model's)."""
    from actionbench.base_models import resolve_base_model
    from actionbench.metrics.judge_validation import TruthLevel
    from actionbench.mini.benchmark import subject_factors

    factors = [subject_factors(s.text) for s in benchmark.protocol.subjects]
    subjects = [s for s in factors if s is not None]
    vae = resolve_base_model(benchmark.defaults.get("base_model", "mini")).load("cpu").vae
    rendered = truth_images(actions, subjects, list(seeds), render_instance)
    flat = [image for name in actions for image in rendered[name]]
    levels = []
    for level in LEVELS:
        images = {name: degrade(rendered[name], level, vae) for name in actions}
        degraded = [image for name in actions for image in images[name]]
        levels.append(TruthLevel(level.name, distance(flat, degraded), sharpness(degraded), images))
    return levels
