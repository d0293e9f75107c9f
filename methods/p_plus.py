"""P+ / extended textual inversion: one identifier embedding per cross-attention layer.

Voynov et al. (2023) invert images into "P+": a separate textual condition per cross-attention
layer of the UNet, "applied independently to each cross-attention layer", with textual
inversion's settings except the number of steps. Here every layer's condition is the exemplar's
caption with that layer's identifier in place of ``{}``, built with the shared mechanism in
:mod:`actionbench.methods.layerwise` (which ADI reuses). Routing is per attention layer (16 on SD
1.x/2.x), not per UNet block: a block-level routing leaves most tokens untrained.

Training runs the suite's one loop (:mod:`actionbench.methods.training_loop`) on the identifiers;
ADI changes only the micro-step (:meth:`PPlusMethod.micro_step`: its draw and its loss) and adds the loop's
gradient hook (:meth:`PPlusMethod.gradient_hook`, none for P+); everything else (data, optimiser,
accumulation, artifact) is shared, so ``adi-no-mask`` with P+'s settings *is* P+.

Hyperparameters (P+ paper: Voynov et al., arXiv 2303.09522, §4.2.2 as quoted by the
mkshing/prompt-plus-pytorch README; textual inversion's settings from diffusers'
``examples/textual_inversion`` README):

| setting | value | source |
|---|---|---|
| identifiers | one per cross-attention layer (16 on SD 1.x/2.x) | P+ ("each p_i is injected to layer i") |
| steps | 500 | P+ §4.2.2 (TI's settings "except the number of training steps") |
| learning_rate | 5e-4, scaled x batch x accumulation = 2e-3 | diffusers TI example (TI's settings) |
| train_batch_size x gradient_accumulation_steps | 1 x 4 | diffusers TI example |
| lr schedule | constant, no warm-up | diffusers TI example |
| optimiser | AdamW, betas (0.9, 0.999), weight decay 1e-2, eps 1e-8 | diffusers TI example defaults |
| initializer_token | "pose" | paper: not stated; chosen: a neutral word for a body configuration that names no action |
| resolution | the base model's native size (512 on SD 2.1-base) | paper: not stated; chosen: native, as diffusers' examples |
| timesteps / noise | uniform timesteps, Gaussian noise, DDPM schedule of the base | diffusers TI example |
| exemplar order | a fresh permutation per epoch | diffusers TI example (shuffled DataLoader) |
| flips | none | chosen: actions are chiral (a salute uses the right hand) |
| prompts | each exemplar's caption template with the identifier in the ``{}`` | ActionBench's text.json / ReVersion's format |
| inference | 50 steps, guidance 7.5 (the protocol's) | P+/ADI protocol (references) |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from actionbench.data import Action
from actionbench.fileio import atomic_write_json
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig
from actionbench.methods.layerwise import (
    IDENTIFIER_TOKEN,
    encode_with_identifiers,
    ensure_identifier_token,
    generate_with_identifiers,
    install_layerwise_attention,
    save_identifiers,
    token_embedding,
)
from actionbench.methods.training import (
    DrawnBatch,
    ExemplarLatents,
    ExemplarSampler,
    GradientHook,
    MicroLosses,
    Optimisation,
    SplitMicroStep,
    TrainingImages,
    Update,
    apply_memory_options,
    batch_losses,
    check_templates,
    check_training_options,
    draw_batch,
    encode_exemplars,
    fixed_evaluation_loss,
    freeze,
    optimisation,
    part_means,
    require_sd_like,
    scaled_learning_rate,
    seed_all,
    train_loop,
    training_prompts,
    training_resolution,
    training_scheduler,
    update,
)

TRAINING_LOG = "training_log.json"


@dataclass
class PPlusConfig(MethodConfig):
    """P+'s settings; the module docstring's table gives the source of each."""

    steps: int = 500  # P+ §4.2.2: textual inversion's settings except the number of steps
    learning_rate: float = 5e-4  # diffusers TI example; scaled by batch x accumulation (2e-3)
    scale_lr: bool = True  # diffusers TI example (--scale_lr)
    gradient_accumulation_steps: int = 4  # diffusers TI example
    weight_decay: float = 1e-2  # diffusers TI example (AdamW default there)
    initializer_token: str = "pose"  # paper: not stated; chosen: neutral, names no action
    layerwise: bool = True  # one identifier per cross-attention layer; False: one shared (textual inversion)


@dataclass
class IdentifierTraining:
    """Everything a training step needs, built once by :meth:`PPlusMethod.prepare`."""

    pipe: Any
    config: PPlusConfig
    scheduler: Any
    latents: ExemplarLatents  # the exemplars, encoded once
    prompts: list[str]  # per exemplar: its caption with the identifier token
    sampler: ExemplarSampler  # the order exemplars are drawn in (shuffled epochs, as TI's DataLoader)
    token_id: int
    layer_names: list[str]
    identifiers: torch.nn.Parameter  # (n, dim): n = layers, or 1 without layer-wise tokens
    generator: torch.Generator
    optimisation: Optimisation  # AdamW on the identifiers and the loss scale: what the loop updates

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimisation.optimizer


@METHODS.register("p_plus")
class PPlusMethod(Method):
    """P+ (extended textual inversion): one learned token embedding per cross-attention layer."""

    name = "p_plus"
    paper = "Voynov et al., P+: Extended Textual Conditioning in Text-to-Image Generation, arXiv 2303.09522, 2023"
    config_cls = PPlusConfig
    state_cls = IdentifierTraining  # ADI's adds its generated samples

    def check(self, action: Action, config: PPlusConfig) -> None:
        super().check(action, config)
        check_templates(action, self.name)
        check_training_options(config)

    # -- training ------------------------------------------------------------------------------
    def train(self, base, action: Action, config: PPlusConfig, out_dir: Path) -> Path:
        state = self.prepare(base, action, config)
        start_loss = self.evaluation_loss(state)
        updates = train_loop(state.optimisation, self.micro_step(state), config.steps,
                             hook=self.gradient_hook(state))
        log: dict[str, Any] = {"loss": [step.loss for step in updates],
                               "kept_fraction": [step.kept_fraction for step in updates],
                               "fixed_evaluation_loss": {"start": start_loss, "end": self.evaluation_loss(state)}}
        save_identifiers(out_dir, state.identifiers, state.layer_names, base, {
            "method": self.name, "action": action.name, "initializer_token": config.initializer_token,
            "settings": self.key_settings(config)["train"], **self.artifact_details(state)})
        atomic_write_json(Path(out_dir) / TRAINING_LOG, log)
        return Path(out_dir)

    def prepare(self, pipe, action: Action, config: PPlusConfig) -> IdentifierTraining:
        """Seed, freeze the base, route layer-wise conditions, encode the exemplars, start the identifiers."""
        require_sd_like(pipe)
        generator = seed_all(config.seed)
        freeze(pipe.unet, pipe.vae, pipe.text_encoder)
        apply_memory_options(pipe, config)
        if config.gradient_checkpointing:
            pipe.text_encoder.train()  # transformers checkpoints only in training mode (CLIP has no dropout)
        layer_names = install_layerwise_attention(pipe.unet, pipe.tokenizer.model_max_length)
        token_id = ensure_identifier_token(pipe)
        count = len(layer_names) if config.layerwise else 1
        initial = token_embedding(pipe, config.initializer_token)
        identifiers = torch.nn.Parameter(initial.unsqueeze(0).repeat(count, 1).to(pipe.unet.device))
        lr = scaled_learning_rate(config.learning_rate, config, config.scale_lr)
        return self.state_cls(
            pipe=pipe, config=config, scheduler=training_scheduler(pipe),
            latents=encode_exemplars(pipe, action, training_resolution(pipe, config)),
            prompts=training_prompts(action, IDENTIFIER_TOKEN),
            sampler=ExemplarSampler(len(action.exemplars), generator), token_id=token_id,
            layer_names=layer_names, identifiers=identifiers, generator=generator,
            optimisation=optimisation([identifiers], lr, config, pipe.unet.device, weight_decay=config.weight_decay))

    def optimization_step(self, state: IdentifierTraining) -> Update:
        """One update of the loop (tests and benchmarks step it by hand); its ``gradient`` is the one applied."""
        return update(state.optimisation, self.micro_step(state), hook=self.gradient_hook(state),
                      keep_gradient=True)

    def micro_step(self, state: IdentifierTraining) -> SplitMicroStep:
        """The loop's micro-step, split so an update's micro-batches run as one batch (``fuse_micro_steps``)."""
        return SplitMicroStep(lambda: self.draw_micro_batch(state), lambda draws: self.micro_losses(state, draws))

    def draw_micro_batch(self, state: IdentifierTraining) -> DrawnBatch:
        """P+: a batch of exemplars in TI's epoch order, a latent from each posterior, noise, timesteps."""
        images = TrainingImages(state.latents, state.prompts, state.sampler)
        return draw_batch(state.scheduler, images, state.config.train_batch_size, state.generator)

    def micro_losses(self, state: IdentifierTraining, draws: list) -> torch.Tensor | MicroLosses:
        """P+: each micro-batch's mean denoising loss, all of them in one forward pass."""
        batch = DrawnBatch.cat(draws)
        states = encode_with_identifiers(state.pipe, batch.prompts, state.identifiers, state.token_id)
        return part_means(batch_losses(state.pipe, state.scheduler, batch, states), [len(d) for d in draws])

    def gradient_hook(self, state: IdentifierTraining) -> GradientHook | None:
        """The loop's gradient transform; P+ keeps every channel (ADI masks)."""
        return None

    def artifact_details(self, state: IdentifierTraining) -> dict[str, Any]:
        """Extra manifest entries a subclass records (ADI: its action-different prompts)."""
        return {}

    @torch.no_grad()
    def evaluation_loss(self, state: IdentifierTraining) -> float:
        """The denoising loss on every exemplar's latent mean with held-fixed noise and timesteps."""
        states = encode_with_identifiers(state.pipe, state.prompts, state.identifiers, state.token_id)
        return fixed_evaluation_loss(state.pipe, state.latents.mean, states)

    # -- generation ----------------------------------------------------------------------------
    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: MethodConfig) -> list[Image.Image]:
        return generate_with_identifiers(base, artifact, prompts, seeds, config)
