"""The one interface every method implements: ``train`` on an action, then ``generate`` images.

``train(base, action, config, out_dir) -> artifact``: ``base`` is a fresh diffusers Stable
Diffusion pipeline (the method may change it), ``action`` the exemplars with their metadata, and the
artifact a folder in a format diffusers itself loads. ``generate(base, artifact, prompts, seeds,
config) -> images``: one PIL image per (prompt, seed) pair; each prompt holds ``{action}``, which
the method fills its own way (a learned token, or words). A method never scores its own images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from PIL import Image

from actionbench.data import Action
from actionbench.errors import ActionBenchError
from actionbench.methods.setting_ranges import SETTING_RANGES
from actionbench.ranges import check_ranges

# The run stages a config field can belong to (the run store's stage names). A field's stage decides
# which stage's key hashes it, so changing it redoes that stage and the ones after, never the ones before.
TRAIN, GENERATE = "train", "generate"
# The sampler settings: what a method that samples while it trains (class images, ADI's
# action-different samples) declares in ``Method.training_reads``.
SAMPLER_SETTINGS = ("num_inference_steps", "guidance_scale")


def generation_setting(default: Any) -> Any:
    """A config field only generation reads: changing it regenerates and rescores, never retrains.
    A field declared without it belongs to training."""
    return field(default=default, metadata={"stage": GENERATE})


def stage_of(config_field) -> str:
    return config_field.metadata.get("stage", TRAIN)


def stage_settings(config, stage: str) -> dict[str, Any]:
    """The config's fields that belong to ``stage``, by name."""
    return {f.name: getattr(config, f.name) for f in fields(config) if stage_of(f) == stage}


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
    # One forward/backward for all of an update's micro-batches (the same loss; float sums reordered):
    # about 2x faster per update on a CPU. False: one pass per micro-step, the memory that gradient
    # accumulation exists to save (training_loop.SplitMicroStep). ADI's mask_on="micro_step" never fuses.
    fuse_micro_steps: bool = True
    num_inference_steps: int | None = generation_setting(None)  # None: the benchmark protocol's
    guidance_scale: float | None = generation_setting(None)  # None: the benchmark protocol's
    # Images are seeded one by one, but batching changes their pixels by float rounding (stages.py).
    generation_batch_size: int = generation_setting(8)


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

    @classmethod
    def check_config(cls, config: MethodConfig) -> None:
        """Refuse settings outside their ranges (``setting_ranges``) when the run is planned, before
        any work; a method with settings of its own may add to this."""
        check_ranges(f"settings for method {cls.name}", config, SETTING_RANGES)

    def check(self, action: Action, config: MethodConfig) -> None:
        """Refuse bad input before any training starts (called for every unit at planning time)."""
        if len(action.exemplars) < self.min_exemplars:
            raise ActionBenchError(
                f"action '{action.name}' has {len(action.exemplars)} exemplar image(s); {self.name} needs "
                f"at least {self.min_exemplars}", "add more photos of the action")

    def training_reads(self, config: MethodConfig) -> tuple[str, ...]:
        """The generation settings ``train`` reads too (a method that samples while it trains); they
        join the train key, so changing one retrains. Default: none, so a generation setting only
        regenerates."""
        return ()

    def key_settings(self, config: MethodConfig) -> dict[str, dict[str, Any]]:
        """What each stage's key hashes of ``config``: the stage's own fields, and for training also
        the generation settings it declares it reads."""
        generation = stage_settings(config, GENERATE)
        unknown = [name for name in self.training_reads(config) if name not in generation]
        if unknown:
            raise ActionBenchError(
                f"method {self.name} declares that training reads '{unknown[0]}', which is not one of its "
                f"generation settings ({', '.join(generation)})",
                "name only fields declared with generation_setting() in training_reads")
        train = stage_settings(config, TRAIN) | {name: generation[name] for name in self.training_reads(config)}
        return {TRAIN: train, GENERATE: generation}

    @abstractmethod
    def train(self, base, action: Action, config: MethodConfig, out_dir: Path) -> Path:
        """Learn the action from its exemplars; write the artifact into ``out_dir`` and return it."""

    @abstractmethod
    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        """One image per (prompt, seed); the same inputs always give the same images."""
