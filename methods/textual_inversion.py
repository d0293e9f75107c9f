"""Textual Inversion: one new token embedding learned from the exemplars; everything else frozen.

Gal et al., "An Image is Worth One Word", ICLR 2023, trained as diffusers'
``examples/textual_inversion/textual_inversion.py`` does: AdamW with a constant learning rate on the
new token's row. (The example hands AdamW the whole table and restores the other rows after each
update; learning the row alone gives the same numbers in 40% less training time on the mini world,
:mod:`~actionbench.methods.token_rows`.) Two departures, both for actions: the training prompts are
each exemplar's own caption with the token in its ``{}`` slot (ReVersion's and ActionBench's
convention) instead of the example's fixed "a photo of a {}" templates, and images are never flipped
(the example flips by default; a salute is done with the right hand).

Artifact: ``learned_embeds.safetensors`` holding ``{token: embedding}``, the file diffusers' own
example writes, so ``pipe.load_textual_inversion(artifact)`` loads it; ``actionbench.json`` keeps
the token and the training log. ``reversion`` and ``custom_diffusion`` reuse these pieces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from actionbench.data import Action, fill_action
from actionbench.data.preprocess import POLICY
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.generation import sample_images
from actionbench.methods.training import (
    DrawnBatch, SplitMicroStep, TrainingImages, add_placeholder_tokens, apply_memory_options, batch_losses,
    check_templates, check_training_options, draw_batch, encode_exemplars, freeze, load_once, part_means,
    read_artifact_info, require_sd_like, run_updates, scaled_learning_rate, seed_all, training_prompts,
    training_resolution, training_scheduler, write_artifact_info)
from actionbench.methods.token_rows import learned_token_rows

EMBEDS_FILE = "learned_embeds.safetensors"  # the name load_textual_inversion looks for first


@dataclass
class TextualInversionConfig(MethodConfig):
    # diffusers examples/textual_inversion/README.md training command, unless noted.
    steps: int = 3000  # --max_train_steps=3000
    learning_rate: float = 5e-4  # --learning_rate=5.0e-04
    scale_lr: bool = True  # --scale_lr: x batch x accumulation = 2e-3 effective
    train_batch_size: int = 1  # --train_batch_size=1
    gradient_accumulation_steps: int = 4  # --gradient_accumulation_steps=4
    placeholder_token: str = "<A>"  # the ADI poster's notation for the action identifier
    # Our choice (the papers are silent for actions): a neutral word for what fills the slot.
    initializer_token: str = "action"


def save_learned_embeds(pipe, token: str, folder: Path, filename: str = EMBEDS_FILE) -> Path:
    """Write ``{token: embedding}`` (float32 safetensors), the format ``load_textual_inversion`` reads."""
    from safetensors.torch import save_file

    token_id = pipe.tokenizer.convert_tokens_to_ids(token)
    embedding = pipe.text_encoder.get_input_embeddings().weight[token_id].detach().float().cpu().clone()
    path = Path(folder) / filename
    save_file({token: embedding}, str(path), metadata={"format": "pt"})
    return path


def train_token_inversion(method: str, base, action: Action, config, out_dir: Path, *, token: str,
                          initializer: str, extra_loss: Callable[[list[str]], torch.Tensor] | None = None,
                          timestep_weights: torch.Tensor | None = None) -> Path:
    """Learn one token's embedding on the exemplars; write the textual-inversion artifact.

    ``extra_loss(prompts)`` adds a method's own term to each micro-batch's loss (ReVersion's steering
    loss); ``timestep_weights`` (one per training timestep) replaces uniform timestep sampling.
    """
    require_sd_like(base)
    started = time.perf_counter()
    generator = seed_all(config.seed)
    size = training_resolution(base, config)
    device = base.unet.device
    apply_memory_options(base, config)
    freeze(base.unet, base.vae)
    scheduler = training_scheduler(base)
    images = TrainingImages.build(encode_exemplars(base, action, size), training_prompts(action, token), generator)
    token_ids = add_placeholder_tokens(base, [token], initializer)

    def draw() -> DrawnBatch:
        return draw_batch(scheduler, images, config.train_batch_size, generator, timestep_weights)

    def micro_losses(draws: list[DrawnBatch]) -> torch.Tensor:
        """Each micro-batch's mean denoising loss (plus the method's own term on its prompts), one pass."""
        losses = part_means(batch_losses(base, scheduler, DrawnBatch.cat(draws)), [len(d) for d in draws])
        if extra_loss is None:
            return losses
        return losses + torch.stack([extra_loss(d.prompts) for d in draws])

    lr = scaled_learning_rate(config.learning_rate, config, config.scale_lr)
    base.text_encoder.train()
    with learned_token_rows(base, token_ids) as learned:
        history = run_updates([learned.rows], SplitMicroStep(draw, micro_losses), config.steps, lr, config, device,
                              after_update=learned.write_back)
    base.text_encoder.eval()
    out_dir = Path(out_dir)
    save_learned_embeds(base, token, out_dir)
    write_artifact_info(out_dir, {"method": method, "identifier": token, "learning_rate": lr, "resolution": size,
                                  "preprocessing": POLICY, "loss_history": history,
                                  "seconds": round(time.perf_counter() - started, 3)})
    return out_dir


class TokenMethod(Method):
    """A method whose artifact is one learned token in textual-inversion format."""

    min_exemplars = 3  # Textual Inversion and DreamBooth learn from "3-5 images" (both papers); our floor

    def check(self, action: Action, config) -> None:
        super().check(action, config)
        check_templates(action, self.name)
        check_training_options(config)

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        token = read_artifact_info(artifact)["identifier"]
        load_once(base, artifact, lambda: base.load_textual_inversion(str(artifact)))
        return sample_images(base, [fill_action(p, token) for p in prompts], seeds, config)


@METHODS.register("textual_inversion")
class TextualInversion(TokenMethod):
    """One new token embedding learned from the exemplars (pipe.load_textual_inversion loads it)."""

    name = "textual_inversion"
    paper = "Gal et al., An Image is Worth One Word: Personalizing Text-to-Image Generation using Textual Inversion, ICLR 2023"
    config_cls = TextualInversionConfig

    def train(self, base, action: Action, config: TextualInversionConfig, out_dir: Path) -> Path:
        return train_token_inversion(self.name, base, action, config, out_dir,
                                     token=config.placeholder_token, initializer=config.initializer_token)
