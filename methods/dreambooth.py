"""DreamBooth: fine-tune the whole UNet on the exemplars, bound to a rare-token identifier, with prior
preservation on class images the base model generated itself.

Ruiz et al., "DreamBooth: Fine Tuning Text-to-Image Diffusion Models for Subject-Driven Generation",
CVPR 2023, trained as diffusers' ``examples/dreambooth/train_dreambooth.py`` does: text encoder and
VAE frozen, AdamW, constant learning rate, gradients clipped at 1.0, loss = instance loss +
``prior_loss_weight`` x loss on a class image. The training prompt of each exemplar is its caption
with the identifier in the ``{}`` slot ("Excited bearded man sks over pink background"); the class
prompt is ``"a photo of a person"`` (our choice: the exemplars show people; see
:mod:`actionbench.methods.prior_preservation`, which also caches the class images).

Artifact: ``unet/`` as a diffusers model folder in fp16 safetensors
(``UNet2DConditionModel.from_pretrained(artifact / "unet")``) and ``actionbench.json``.
``dreambooth_lora`` reuses :func:`fine_tune` with LoRA adapters instead of the full UNet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from actionbench.data import Action, fill_action
from actionbench.data.preprocess import POLICY, exemplar_image
from actionbench.errors import ActionBenchError
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.generation import sample_images
from actionbench.methods.prior_preservation import CLASS_PROMPT, class_image_settings, class_images, with_prior_loss
from actionbench.methods.training import (
    DrawnBatch, SplitMicroStep, TrainingImages, apply_memory_options, check_templates, check_training_options,
    draw_batch, encode_images, encode_images_batched, freeze, load_once, mean_losses,
    read_artifact_info, require_sd_like, run_updates, scaled_learning_rate, seed_all, training_prompts,
    training_resolution, training_scheduler, write_artifact_info)

UNET_FOLDER = "unet"


@dataclass
class DreamBoothConfig(MethodConfig):
    # diffusers examples/dreambooth/README.md, "Training with prior-preservation loss", unless noted.
    steps: int = 800  # --max_train_steps=800 (400 without prior preservation)
    learning_rate: float = 5e-6  # --learning_rate=5e-6
    scale_lr: bool = False  # the README does not pass --scale_lr
    with_prior_preservation: bool = True  # --with_prior_preservation
    prior_loss_weight: float = 1.0  # --prior_loss_weight=1.0
    num_class_images: int = 200  # --num_class_images=200
    class_prompt: str = CLASS_PROMPT  # our choice for actions (the README's is "a photo of dog")
    identifier: str = "sks"  # the README's rare token: --instance_prompt="a photo of sks dog"
    max_grad_norm: float = 1.0  # train_dreambooth.py's --max_grad_norm default


def check_dreambooth_config(config: DreamBoothConfig) -> None:
    check_training_options(config)
    if config.with_prior_preservation and config.num_class_images < 1:
        raise ActionBenchError(f"num_class_images is {config.num_class_images} with prior preservation on",
                               "set num_class_images to 1 or more, or with_prior_preservation=false")


def fine_tune(base, images: list[Image.Image], prompts: list[str], config: DreamBoothConfig, cache_dir: Path | None,
              trainable: Callable[[], list[torch.nn.Parameter]]) -> dict:
    """DreamBooth's training loop on square ``images`` (already at the training size) and their prompts.

    ``trainable()`` is called after everything is frozen and returns the parameters to learn (the
    whole UNet, or LoRA adapters it adds). Class images are generated first, from the untouched base.
    Returns the training log.
    """
    require_sd_like(base)
    started = time.perf_counter()
    generator = seed_all(config.seed)
    size = images[0].size[0]
    device = base.unet.device
    prior = None
    if config.with_prior_preservation:
        pictures = class_images(base, config.class_prompt, config.num_class_images, size, config, cache_dir)
        prior = TrainingImages.build(encode_images_batched(base, pictures), [config.class_prompt] * len(pictures),
                                     generator)
    apply_memory_options(base, config)
    freeze(base.unet, base.vae, base.text_encoder)
    parameters = trainable()
    scheduler = training_scheduler(base)
    instance = TrainingImages.build(encode_images(base, images), prompts, generator)
    batch = config.train_batch_size

    def draw() -> list[DrawnBatch]:
        """A micro-step's instance batch, then its class-prior batch."""
        return [draw_batch(scheduler, images, batch, generator) for images in (instance, prior) if images is not None]

    def micro_losses(draws: list[list[DrawnBatch]]) -> torch.Tensor:
        """Instance loss + prior_loss_weight x prior loss per micro-step. Fused, every row in one forward
        (train_dreambooth.py too concatenates the instance and class images into one batch); not, one
        pass per batch."""
        parts = [part for drawn in draws for part in drawn]
        means = mean_losses(base, scheduler, parts, config.fuse_micro_steps).view(len(draws), -1)
        return with_prior_loss(means, config.prior_loss_weight, prior is not None)

    lr = scaled_learning_rate(config.learning_rate, config, config.scale_lr)
    base.unet.train()
    history = run_updates(parameters, SplitMicroStep(draw, micro_losses), config.steps, lr, config, device,
                          max_grad_norm=config.max_grad_norm)
    base.unet.eval()
    base.unet.requires_grad_(False)
    return {"identifier": config.identifier, "learning_rate": lr, "resolution": size, "preprocessing": POLICY,
            "class_prompt": config.class_prompt if prior is not None else None,
            "class_images": len(prior.prompts) if prior is not None else 0, "loss_history": history,
            "seconds": round(time.perf_counter() - started, 3)}


def exemplar_images(base, action: Action, config) -> list[Image.Image]:
    size = training_resolution(base, config)
    return [exemplar_image(e, size) for e in action.exemplars]


class DreamBoothFamily(Method):
    """Shared checks and prompt filling of ``dreambooth`` and ``dreambooth_lora``."""

    min_exemplars = 3  # the DreamBooth paper customises from "3-5 images"; our floor

    def check(self, action: Action, config) -> None:
        super().check(action, config)
        check_templates(action, self.name)
        check_dreambooth_config(config)

    def training_reads(self, config) -> tuple[str, ...]:
        return class_image_settings(config)

    def _sample(self, base, artifact: Path, prompts: list[str], seeds: list[int], config) -> list[Image.Image]:
        identifier = read_artifact_info(artifact)["identifier"]
        return sample_images(base, [fill_action(p, identifier) for p in prompts], seeds, config)


@METHODS.register("dreambooth")
class DreamBooth(DreamBoothFamily):
    """UNet fine-tuning with a rare-token identifier and prior preservation (fp16 diffusers UNet folder)."""

    name = "dreambooth"
    paper = ("Ruiz et al., DreamBooth: Fine Tuning Text-to-Image Diffusion Models for Subject-Driven Generation, "
             "CVPR 2023")
    config_cls = DreamBoothConfig

    def train(self, base, action: Action, config: DreamBoothConfig, out_dir: Path) -> Path:
        def whole_unet() -> list[torch.nn.Parameter]:
            base.unet.requires_grad_(True)
            return list(base.unet.parameters())

        log = fine_tune(base, exemplar_images(base, action, config), training_prompts(action, config.identifier),
                        config, self.cache_dir, whole_unet)
        out_dir = Path(out_dir)
        base.unet.to(torch.float16).save_pretrained(out_dir / UNET_FOLDER, safe_serialization=True)
        write_artifact_info(out_dir, {"method": self.name, **log})
        return out_dir

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        load_once(base, artifact, lambda: load_unet(base, artifact))
        return self._sample(base, artifact, prompts, seeds, config)


def load_unet(pipe, artifact: Path) -> None:
    """Put the fine-tuned UNet of a DreamBooth artifact into ``pipe`` (in the pipe's dtype and device)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(Path(artifact) / UNET_FOLDER, torch_dtype=pipe.unet.dtype)
    pipe.register_modules(unet=unet.to(pipe.device))
