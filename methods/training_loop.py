"""The one optimisation loop every trainable method runs, read top to bottom like diffusers' examples.

One update (:func:`update`)::

    for each of gradient_accumulation_steps micro-steps:
        loss = micro_step() / accumulation            under the configured autocast
        scaler.scale(loss).backward()                 gradients add up in .grad
        [hook, every="micro_step"]
      (fused, the default for a :class:`SplitMicroStep`: draw every micro-batch in the same order,
       then one forward and one backward of sum_k loss_k / accumulation over all their rows)
    [hook, every="step"]                              the one gradient transform (ADI's mask)
    a non-finite gradient skips the update            (fp16 overflow; GradScaler backs its scale off)
    clip to max_grad_norm (if set), optimizer step, scaler update, zero the gradients
    entries the hook did not keep are put back        (so AdamW's momentum and weight decay cannot move them)
    after_update()                                    (textual inversion writes its learned row into the table)

Fusing the micro-steps (``fuse_micro_steps``, :class:`SplitMicroStep`) is the same sum: each
micro-step's loss is still the mean over its own rows, and the rows of a batch do not interact in
the UNet (GroupNorm and attention are per sample), so only the order of floating-point sums changes;
on a CPU one pass of batch 12 costs about half of four passes of batch 3. It costs the memory that
accumulation exists to save (activations of every micro-batch at once), so ``fuse_micro_steps=false``
is a memory option, and ADI's ``mask_on="micro_step"`` (a gradient per micro-step) never fuses.

Constant learning rate, no warm-up, AdamW with diffusers' defaults; fp16 on CUDA scales the loss with
``torch.amp.GradScaler`` as accelerate does (start 2**16, halve and skip on overflow, double after
2000 finite updates); elsewhere the scaler is off and multiplies by nothing. The memory options
(precision, attention, checkpointing, 8-bit Adam) are checked once, against the tables below.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch

from actionbench.errors import ActionBenchError
from actionbench.seeding import seed_all  # noqa: F401  (the methods' seeding, one rule with the stages')

PRECISIONS = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}  # mixed_precision -> autocast dtype
ATTENTION_PROCESSORS = {"sdpa": "AttnProcessor2_0", "default": "AttnProcessor"}  # attention -> diffusers class


def _choice(config, name: str, choices) -> str:
    """``config.<name>``, refused in one line unless it is one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        names = list(choices)
        raise ActionBenchError(f"{name} is '{value}'", f"use {', '.join(names[:-1])} or {names[-1]}")
    return value


def check_training_options(config) -> None:
    """Refuse memory options that cannot work here before any training starts."""
    _choice(config, "mixed_precision", PRECISIONS)
    _choice(config, "attention", ATTENTION_PROCESSORS)
    if config.use_8bit_adam and importlib.util.find_spec("bitsandbytes") is None:
        raise ActionBenchError("use_8bit_adam needs bitsandbytes", "pip install bitsandbytes, or turn it off")
    for name in ("steps", "train_batch_size", "gradient_accumulation_steps"):
        value = getattr(config, name, 1)
        if value < 1:
            raise ActionBenchError(f"{name} is {value}", f"set {name} to 1 or more")


def autocast(config, device: torch.device):
    """bf16/fp16 autocast when ``config.mixed_precision`` asks for it, else nothing."""
    dtype = PRECISIONS[_choice(config, "mixed_precision", PRECISIONS)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def apply_memory_options(pipe, config) -> None:
    """Gradient checkpointing and the attention implementation, as chosen in the config."""
    processor = ATTENTION_PROCESSORS[_choice(config, "attention", ATTENTION_PROCESSORS)]
    if config.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        encoder = pipe.text_encoder  # transformers 5.x renamed the switch; older releases have only the old name
        getattr(encoder, "activation_checkpointing_enable", encoder.gradient_checkpointing_enable)()
    from diffusers.models import attention_processor

    pipe.unet.set_attn_processor(getattr(attention_processor, processor)())


def freeze(*modules) -> None:
    for module in modules:
        module.requires_grad_(False)


def make_optimizer(parameters, lr: float, config, weight_decay: float = 1e-2):
    """AdamW (diffusers' examples' defaults), or bitsandbytes' 8-bit AdamW when asked and installed."""
    parameters = list(parameters)
    if config.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError as error:
            raise ActionBenchError("use_8bit_adam needs bitsandbytes", "pip install bitsandbytes, or turn it off") from error
        return bnb.optim.AdamW8bit(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8)
    # foreach: one kernel per step over all tensors (the CUDA default; on a CPU 20% faster than the
    # per-tensor loop and bit for bit equal). fused=True would be 4x faster but rounds differently.
    return torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8,
                             foreach=True)


def scaled_learning_rate(lr: float, config, scale: bool) -> float:
    """diffusers' ``--scale_lr``: lr x batch size x accumulation steps."""
    return lr * config.train_batch_size * config.gradient_accumulation_steps if scale else lr


def make_scaler(config, device: torch.device) -> torch.amp.GradScaler:
    """The loss scale: on for fp16 on CUDA only (bf16 and fp32 need none; off, it is the identity)."""
    return torch.amp.GradScaler(device.type, enabled=config.mixed_precision == "fp16" and device.type == "cuda")


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class Optimisation:
    """What the loop updates and with what, built once per training by :func:`optimisation`."""

    parameters: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    config: Any  # the method's config: accumulation and precision are read from it
    device: torch.device
    max_grad_norm: float | None = None


def optimisation(parameters, lr: float, config, device: torch.device, *, weight_decay: float = 1e-2,
                 max_grad_norm: float | None = None) -> Optimisation:
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise RuntimeError("no trainable parameters")
    return Optimisation(parameters, make_optimizer(parameters, lr, config, weight_decay=weight_decay),
                        make_scaler(config, device), config, device, max_grad_norm)


@dataclass
class MicroLoss:
    """A micro-step's result when the loss it logs is not the loss it back-propagates (ADI logs the
    anchor's loss and back-propagates every role's); a plain tensor means both are the same."""

    loss: torch.Tensor
    reported: float


@dataclass
class MicroLosses:
    """Several micro-steps' results from one pass: ``losses[k]`` is what micro-step ``k`` alone would
    back-propagate, ``reported[k]`` what it logs (as :class:`MicroLoss`)."""

    losses: torch.Tensor  # (micro-steps,)
    reported: list[float]


@dataclass
class SplitMicroStep:
    """A micro-step in two halves, so the loop can run an update's micro-steps as one batch.

    ``draw()`` takes every random number a micro-step uses (data order, posterior latents, noise,
    timesteps, augmentation) and returns its micro-batch; ``loss(draws)`` runs one forward over the
    rows of all ``draws`` and returns each micro-batch's loss, ``(len(draws),)``, or :class:`MicroLosses`
    when the logged loss differs. It consumes no random numbers, so drawing K micro-batches first
    leaves every generator where K whole micro-steps would. Called, it is one unfused micro-step.
    """

    draw: Callable[[], Any]
    loss: Callable[[list[Any]], "torch.Tensor | MicroLosses"]

    def __call__(self) -> MicroLoss:
        result = as_micro_losses(self.loss([self.draw()]))
        return MicroLoss(result.losses[0], result.reported[0])


def as_micro_losses(result: torch.Tensor | MicroLosses) -> MicroLosses:
    if isinstance(result, MicroLosses):
        return result
    return MicroLosses(result, [float(value) for value in result.detach().tolist()])


def fuses(config, hook: GradientHook | None) -> bool:
    """Whether :func:`update` runs a split micro-step's micro-batches as one batch: the config asks for
    it and no hook needs a gradient per micro-step."""
    return bool(getattr(config, "fuse_micro_steps", False)) and (hook is None or hook.every == "step")


@dataclass
class GradientHook:
    """The loop's one hook: rewrite the gradient before the optimiser reads it.

    ``transform()`` reads the gradient accumulated so far, writes the parameters' ``.grad`` and
    returns which entries of the first parameter the update may change (bool, its shape). With
    ``every="micro_step"`` it runs after each micro-step (the kept entries are the union over them);
    with ``"step"`` once, on the step's accumulated gradient. ``freeze``: entries not kept are put
    back after the optimiser step, exactly.
    """

    transform: Callable[[], torch.Tensor]
    every: Literal["step", "micro_step"] = "step"
    freeze: bool = True


@dataclass
class Update:
    """What one optimiser update did."""

    loss: float  # the mean of the micro-steps' reported losses
    accumulated_loss: float  # the sum of loss / accumulation over the micro-steps (diffusers' logged figure)
    keep: torch.Tensor | None  # entries of the first parameter the update could change; None: all
    applied: bool  # False: a non-finite gradient skipped the update
    gradient: torch.Tensor | None = None  # the first parameter's gradient as applied, when asked for

    @property
    def kept_fraction(self) -> float:
        if not self.applied:
            return 0.0
        return 1.0 if self.keep is None else float(self.keep.float().mean())


def all_finite(grads: list[torch.Tensor]) -> bool:
    """Whether every gradient entry is finite, with one host read. The norms first (one foreach
    kernel, 9x faster than a check per tensor on the mini UNet): finite norms mean finite entries;
    a non-finite norm (an inf or NaN, or a sum of squares past float range) is decided entry by entry."""
    if not grads:
        return True
    if bool(torch.isfinite(torch.stack([norm.float() for norm in torch._foreach_norm(grads)])).all()):
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


def update(opt: Optimisation, micro_step: Callable[[], torch.Tensor | MicroLoss] | SplitMicroStep, *,
           hook: GradientHook | None = None, after_update: Callable[[], None] | None = None,
           keep_gradient: bool = False) -> Update:
    """One optimiser update of the loop the module docstring draws."""
    accumulation = opt.config.gradient_accumulation_steps
    first = opt.parameters[0]
    before = first.detach().clone() if hook is not None and hook.freeze else None
    accumulated, reported, keep = 0.0, [], None
    if isinstance(micro_step, SplitMicroStep) and fuses(opt.config, hook):
        draws = [micro_step.draw() for _ in range(accumulation)]  # the RNG order of the unfused loop
        with autocast(opt.config, opt.device):
            fused = as_micro_losses(micro_step.loss(draws))
            shares = fused.losses / accumulation
        opt.scaler.scale(shares.sum()).backward()
        accumulated, reported = sum(shares.detach().tolist()), list(fused.reported)
    else:
        for _ in range(accumulation):
            with autocast(opt.config, opt.device):
                micro = micro_step()
                if isinstance(micro, torch.Tensor):
                    micro = MicroLoss(micro, float(micro.detach()))
                loss = micro.loss / accumulation
            opt.scaler.scale(loss).backward()
            accumulated += float(loss.detach())
            reported.append(micro.reported)
            if hook is not None and hook.every == "micro_step":
                kept = hook.transform()
                keep = kept if keep is None else keep | kept
    if hook is not None and hook.every == "step":
        keep = hook.transform()
    applied = all_finite([p.grad for p in opt.parameters if p.grad is not None])
    if applied and opt.max_grad_norm is not None:
        opt.scaler.unscale_(opt.optimizer)
        torch.nn.utils.clip_grad_norm_(opt.parameters, opt.max_grad_norm)
    if applied or opt.scaler.is_enabled():  # an enabled scaler skips a non-finite step itself, and backs off
        opt.scaler.step(opt.optimizer)
    opt.scaler.update()
    gradient = first.grad if keep_gradient else None
    opt.optimizer.zero_grad(set_to_none=True)
    if before is not None and keep is not None:
        with torch.no_grad():
            first[~keep] = before[~keep]
    if after_update is not None:
        after_update()
    return Update(sum(reported) / len(reported), accumulated, keep, applied, gradient)


def train_loop(opt: Optimisation, micro_step: Callable[[], torch.Tensor | MicroLoss] | SplitMicroStep, steps: int, *,
               hook: GradientHook | None = None, after_update: Callable[[], None] | None = None) -> list[Update]:
    """``steps`` updates (:func:`update`)."""
    return [update(opt, micro_step, hook=hook, after_update=after_update) for _ in range(steps)]


def run_updates(parameters, step_loss, steps: int, lr: float, config, device: torch.device, *,
                max_grad_norm: float | None = None, after_update=None) -> list[float]:
    """The loop for a method with no gradient transform: AdamW on ``parameters``, ``steps`` updates
    of ``step_loss() -> scalar tensor`` (or a :class:`SplitMicroStep`, fused when the config asks);
    returns each update's accumulated loss (diffusers' figure)."""
    opt = optimisation(parameters, lr, config, device, max_grad_norm=max_grad_norm)
    return [step.accumulated_loss for step in train_loop(opt, step_loss, steps, after_update=after_update)]
