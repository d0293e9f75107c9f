"""The one interface every method implements: ``train`` on an action, then ``generate`` images.

``train(base, action, config, out_dir) -> artifact``: ``base`` is a fresh diffusers Stable
Diffusion pipeline (the method may change it), ``action`` the exemplars with their metadata, and the
artifact a folder in a format diffusers itself loads. ``generate(base, artifact, prompts, seeds,
config) -> images``: one PIL image per (prompt, seed) pair; each prompt holds ``{action}``, which
the method fills its own way (a learned token, or words). A method never scores its own images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from PIL import Image

from actionbench.data import Action
from actionbench.errors import ActionBenchError


@dataclass
class MethodConfig:
    """Settings every method shares. Subclasses add their own, with the source of each default."""

    seed: int = 0  # seeds the training noise, timesteps, data order and initialisation
    resolution: int | None = None  # training size in pixels; None: the base model's native size
    train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"  # autocast dtype, or none
    gradient_checkpointing: bool = False
    use_8bit_adam: bool = False  # needs bitsandbytes
    attention: Literal["sdpa", "default"] = "sdpa"  # "sdpa": torch's scaled-dot-product attention
    num_inference_steps: int | None = None  # None: the benchmark protocol's
    guidance_scale: float | None = None  # None: the benchmark protocol's
    generation_batch_size: int = 8


class Method(ABC):
    """Subclass, set the class variables, implement ``train`` and ``generate``, register by name."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""  # citation of the method's paper
    config_cls: ClassVar[type[MethodConfig]] = MethodConfig
    min_exemplars: ClassVar[int] = 1  # fewer exemplar images than this is refused before training
    # A control's right answer is known (copy an exemplar, draw nothing, draw the truth): boards show
    # its row as the floor or ceiling of every score, not as a competitor (manifest "controls").
    control: ClassVar[bool] = False

    def __init__(self, cache_dir: Path | None = None):
        # Where a method keeps inputs it makes for itself and may reuse (ADI's action-different
        # samples, DreamBooth's class images). The runner passes the run's cache folder, shared by all
        # units and methods, so every entry must be named by a hash of everything it depends on and
        # written atomically. None means nothing is kept.
        self.cache_dir = cache_dir

    def check(self, action: Action, config: MethodConfig) -> None:
        """Refuse bad input before any training starts (called for every unit at planning time)."""
        if len(action.exemplars) < self.min_exemplars:
            raise ActionBenchError(
                f"action '{action.name}' has {len(action.exemplars)} exemplar image(s); {self.name} needs "
                f"at least {self.min_exemplars}", "add more photos of the action")

    @abstractmethod
    def train(self, base, action: Action, config: MethodConfig, out_dir: Path) -> Path:
        """Learn the action from its exemplars; write the artifact into ``out_dir`` and return it."""

    @abstractmethod
    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        """One image per (prompt, seed); the same inputs always give the same images."""
