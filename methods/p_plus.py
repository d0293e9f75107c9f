"""P+ / extended textual inversion: one identifier embedding per cross-attention layer.

Voynov et al. (2023) invert images into "P+": a separate textual condition per cross-attention
layer of the UNet, "applied independently to each cross-attention layer", with textual
inversion's settings except the number of steps. Here every layer's condition is the exemplar's
caption with that layer's identifier in place of ``{}``, built with the shared mechanism in
:mod:`actionbench.methods.layerwise` (which ADI reuses). Routing is per attention layer (16 on SD
1.x/2.x), not per UNet block: a block-level routing leaves most tokens untrained.

The training loop (:class:`PPlusMethod`) is written so that ADI only replaces the gradient of one
micro-step (:meth:`PPlusMethod.micro_step`); everything else (data, optimiser, accumulation,
artifact) is shared, so ``adi-no-mask`` with P+'s settings *is* P+.

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

from dataclasses import dataclass, field
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
    ExemplarLatents,
    ExemplarSampler,
    apply_memory_options,
    autocast,
    check_templates,
    check_training_options,
    denoising_loss,
    encode_exemplars,
    fixed_evaluation_loss,
    freeze,
    make_optimizer,
    require_sd_like,
    sample_timesteps,
    scaled_learning_rate,
    seed_all,
    training_prompts,
    training_resolution,
    training_scheduler,
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
class MicroStep:
    """One micro-step's result: the gradient to apply and which channels it may change."""

    gradient: torch.Tensor  # (identifiers, dim)
    keep: torch.Tensor  # bool, (identifiers, dim): channels this step is allowed to update
    loss: float  # the anchor's denoising loss


@dataclass
class LossScale:
    """fp16 on CUDA only: a dynamic loss scale, as ``torch.amp.GradScaler`` keeps one (start 2**16,
    halve and skip the update on a non-finite gradient, double after 2000 finite updates)."""

    enabled: bool = False
    value: float = 2.0**16
    finite_updates: int = 0

    @property
    def factor(self) -> float:
        return self.value if self.enabled else 1.0

    def update(self, finite: bool) -> None:
        if not self.enabled:
            return
        if not finite:
            self.value, self.finite_updates = self.value / 2, 0
            return
        self.finite_updates += 1
        if self.finite_updates == 2000:
            self.value, self.finite_updates = self.value * 2, 0


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
    optimizer: torch.optim.Optimizer
    loss_scale: LossScale = field(default_factory=LossScale)
    extra: dict[str, Any] = field(default_factory=dict)  # a subclass's own data (ADI's triples)

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device


@METHODS.register("p_plus")
class PPlusMethod(Method):
    """P+ (extended textual inversion): one learned token embedding per cross-attention layer."""

    name = "p_plus"
    paper = "Voynov et al., P+: Extended Textual Conditioning in Text-to-Image Generation, arXiv 2303.09522, 2023"
    config_cls = PPlusConfig

    def check(self, action: Action, config: PPlusConfig) -> None:
        super().check(action, config)
        check_templates(action, self.name)
        check_training_options(config)

    # -- training ------------------------------------------------------------------------------
    def train(self, base, action: Action, config: PPlusConfig, out_dir: Path) -> Path:
        state = self.prepare(base, action, config)
        log: dict[str, Any] = {"loss": [], "kept_fraction": []}
        start_loss = self.evaluation_loss(state)
        for _ in range(config.steps):
            step = self.optimization_step(state)
            log["loss"].append(step.loss)
            log["kept_fraction"].append(float(step.keep.float().mean()))
        log["fixed_evaluation_loss"] = {"start": start_loss, "end": self.evaluation_loss(state)}
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
        fp16_on_cuda = config.mixed_precision == "fp16" and pipe.unet.device.type == "cuda"
        return IdentifierTraining(
            pipe=pipe, config=config, scheduler=training_scheduler(pipe),
            latents=encode_exemplars(pipe, action, training_resolution(pipe, config)),
            prompts=training_prompts(action, IDENTIFIER_TOKEN),
            sampler=ExemplarSampler(len(action.exemplars), generator), token_id=token_id,
            layer_names=layer_names, identifiers=identifiers, generator=generator,
            optimizer=make_optimizer([identifiers], lr, config, weight_decay=config.weight_decay),
            loss_scale=LossScale(enabled=fp16_on_cuda))

    def optimization_step(self, state: IdentifierTraining) -> MicroStep:
        """Accumulate micro-steps, apply the optimiser, and undo any change to channels no micro-step kept.

        The undo makes a masked channel's update exactly zero; without it AdamW's momentum and
        weight decay would still move channels whose gradient was masked.
        """
        identifiers = state.identifiers
        before = identifiers.detach().clone()
        step = self.accumulated_gradient(state)
        finite = bool(torch.isfinite(step.gradient).all())
        state.loss_scale.update(finite)
        if not finite:  # fp16 overflow: skip this update, as GradScaler does
            return MicroStep(torch.zeros_like(step.gradient), torch.zeros_like(step.keep), step.loss)
        identifiers.grad = step.gradient
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        if self.freezes_masked_channels(state.config):
            with torch.no_grad():
                identifiers[~step.keep] = before[~step.keep]
        return step

    def accumulated_gradient(self, state: IdentifierTraining) -> MicroStep:
        """The optimiser step's gradient: the mean of ``gradient_accumulation_steps`` micro-steps;
        a channel is kept when any micro-step kept it (ADI may instead mask the step's gradient)."""
        total = torch.zeros_like(state.identifiers)
        keep = torch.zeros_like(state.identifiers, dtype=torch.bool)
        losses = []
        accumulation = state.config.gradient_accumulation_steps
        for _ in range(accumulation):
            micro = self.micro_step(state)
            total += micro.gradient / accumulation
            keep |= micro.keep
            losses.append(micro.loss)
        return MicroStep(total, keep, sum(losses) / len(losses))

    def micro_step(self, state: IdentifierTraining) -> MicroStep:
        """P+: the denoising loss of a batch of exemplars, every channel kept."""
        config = state.config
        indices = state.sampler.draw(config.train_batch_size)
        latents = state.latents.sample(indices, state.generator)
        noise = torch.randn(latents.shape, generator=state.generator)
        timesteps = sample_timesteps(state.scheduler, len(indices), state.generator)
        with autocast(config, state.device):
            states = encode_with_identifiers(state.pipe, [state.prompts[i] for i in indices.tolist()],
                                             state.identifiers, state.token_id)
            loss = denoising_loss(state.pipe, state.scheduler, latents, states, timesteps, noise)
        (gradient,) = torch.autograd.grad(loss * state.loss_scale.factor, state.identifiers)
        gradient = gradient / state.loss_scale.factor
        return MicroStep(gradient, torch.ones_like(gradient, dtype=torch.bool), float(loss.detach()))

    def freezes_masked_channels(self, config: PPlusConfig) -> bool:
        """Whether channels no micro-step kept stay exactly as they were (P+ keeps every channel)."""
        return True

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
