"""Time one training step of every method and one classifier-free-guidance denoising step.

    python benchmarks/gpu_steps.py --device cuda --config sd21                      # 512/768 px, batch 1/4
    python benchmarks/gpu_steps.py --device cuda --config sd21 --compile --methods adi,p_plus
    python benchmarks/gpu_steps.py --config tiny --sizes 64 --batches 1              # CPU, seconds (the test)

Weights are random (speed does not depend on their values): ``--config sd21`` builds Stable
Diffusion 2.1's UNet, VAE and text encoder from its public configs (``sd21_configs.json`` beside
this file), ``--config tiny`` is the suite's tiny test pipeline. For each method, size and batch the
table has two rows:

- ``eager``: the reference loop, as the methods train today: default (unfused) attention, bf16
  autocast, contiguous tensors, noise drawn on the CPU, the loss read on the host every step;
- ``optimised``: SDPA attention, bf16 autocast, a channels-last UNet, ``torch.compile`` of the UNet
  with ``--compile``, inputs drawn on the device, no host synchronisation inside the step.

Columns: the median milliseconds of a step (over ``--repeats`` windows of ``--window`` steps,
synchronised at window ends), peak memory (``torch.cuda.max_memory_allocated`` on a GPU; on a CPU
the process's peak resident set, which only grows), achieved TFLOP/s (the step's floating-point
operations counted once by ``torch.utils.flop_counter.FlopCounterMode``, over the median time), and
the speed-up of the optimised row over the eager one.

Which code a step runs: P+ and ADI call the methods' own code. Their eager step is
``PPlusMethod.optimization_step`` / ``ADIMethod.optimization_step`` on a training state built like
``prepare`` builds it, with random exemplar latents in place of encoded photos (and, for ADI, random
action-different latents in place of generated samples); their optimised step is assembled from
the same methods' pieces (``draw_triple_batch``, ``role_gradients``, ``gradient_mask``; P+:
``encode_with_identifiers`` and ``denoising_loss``) without the host reads. Textual inversion,
DreamBooth, DreamBooth-LoRA and Custom Diffusion train inside one function each, with no step
callable on its own: their steps are built from the same pieces of ``methods/training.py`` (and
``add_lora``, ``custom_diffusion_processors``) in the order ``run_updates`` runs them. DreamBooth
and Custom Diffusion include prior preservation (their defaults: one class image per instance
image); Custom Diffusion's step encodes its augmented instance images with the VAE, as it trains.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from actionbench.methods.training import (  # the pieces every step is built from, as the methods train
    ExemplarLatents,
    ExemplarSampler,
    add_placeholder_tokens,
    apply_memory_options,
    autocast,
    denoising_loss,
    encode_prompts,
    freeze,
    make_optimizer,
    optimisation,
    prediction_and_target,
    sample_timesteps,
    training_scheduler,
)
from actionbench.methods.token_rows import install_learned_rows

HERE = Path(__file__).resolve().parent
METHODS = ("textual_inversion", "dreambooth", "dreambooth_lora", "custom_diffusion", "p_plus", "adi", "cfg")
CAPTION = "a photo of a person {} on a beach"
EXEMPLARS = 10  # ActionBench's exemplars per action
COLUMNS = ("method", "size", "batch", "loop", "ms/step", "peak MiB", "TFLOP/s", "speed-up")


@dataclass(frozen=True)
class Loop:
    """How a step is run: the eager reference, or the optimised loop."""

    name: str
    attention: str  # "default" (unfused) or "sdpa"
    channels_last: bool
    compile: bool
    host_syncs: bool  # noise on the CPU and the loss read every step, as the methods' loops do


EAGER = Loop("eager", "default", False, False, True)
OPTIMISED = Loop("optimised", "sdpa", True, False, False)


# ---------------------------------------------------------------------------------------------
# Pipelines


def build_pipeline(name: str, device: torch.device):
    """A Stable Diffusion pipeline with random weights: SD 2.1's architecture, or the tiny test one."""
    from actionbench.base_models import BaseModel, build_tiny_pipeline, quiet_libraries

    quiet_libraries()
    if name == "tiny":
        return BaseModel("tiny", build_tiny_pipeline()).load(device=str(device))
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from actionbench.paths import cache_dir
    from actionbench.tokenizer import clip_tokenizer

    configs = json.loads((HERE / "sd21_configs.json").read_text())
    tokenizer = clip_tokenizer(cache_dir("tokenizers", "clip"))
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: SD 2.1's UNet has 866M parameters
        unet = UNet2DConditionModel(**configs["unet"])
        vae = AutoencoderKL(**configs["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"], bos_token_id=tokenizer.bos_token_id,
                                                    eos_token_id=tokenizer.eos_token_id,
                                                    pad_token_id=tokenizer.pad_token_id))
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=DDIMScheduler(**configs["scheduler"]), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def size_multiple(name: str) -> int:
    """Image sizes must be multiples of this: the VAE's and the UNet's downsampling together."""
    if name == "tiny":
        from actionbench.base_models import build_tiny_pipeline

        folder = build_tiny_pipeline()
        unet, vae = (json.loads((folder / part / "config.json").read_text()) for part in ("unet", "vae"))
    else:
        configs = json.loads((HERE / "sd21_configs.json").read_text())
        unet, vae = configs["unet"], configs["vae"]
    return 2 ** (len(vae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1)


def fresh_copy(pipe):
    """A copy a method may change; component by component (copying the pipeline object whole is slower)."""
    from diffusers import StableDiffusionPipeline

    copied = StableDiffusionPipeline(
        **{name: copy.deepcopy(getattr(pipe, name)) for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")},
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    copied.set_progress_bar_config(disable=True)
    return copied


def method_config(method: str, loop: Loop, size: int, batch: int, precision: str):
    """The method's own config with the loop's attention, one micro-batch of ``batch`` per update."""
    from actionbench.methods import METHODS as REGISTRY

    return REGISTRY.get(method).config_cls(resolution=size, train_batch_size=batch, gradient_accumulation_steps=1,
                                           mixed_precision=precision, attention=loop.attention)


def random_latents(pipe, size: int, count: int):
    shape = (count, pipe.unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
    generator = torch.Generator().manual_seed(count)
    mean = torch.randn(shape, generator=generator).to(pipe.unet.device)
    return ExemplarLatents(mean=mean, std=torch.full_like(mean, 0.1))


def finish_pipe(pipe, loop: Loop) -> None:
    """Channels-last and ``torch.compile`` of the UNet, after a method has installed its processors."""
    if loop.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
    if loop.compile:
        pipe.unet = torch.compile(pipe.unet)


def device_draws(pipe, scheduler, latents, batch: int, generator: torch.Generator, loop: Loop):
    """(latents, noise, timesteps) for one micro-batch: drawn on the CPU as the methods do, or on the device."""
    indices = torch.randint(0, len(latents), (batch,), generator=generator)
    if loop.host_syncs:
        chosen = latents.sample(indices, generator)
        return chosen, torch.randn(chosen.shape, generator=generator), sample_timesteps(scheduler, batch, generator)
    device = pipe.unet.device
    indices = indices.to(device, non_blocking=True)
    mean, std = latents.mean[indices], latents.std[indices]
    chosen = mean + std * torch.randn(mean.shape, device=device)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), device=device)
    return chosen, torch.randn(chosen.shape, device=device), timesteps


def on_host(latents):
    return ExemplarLatents(mean=latents.mean.cpu(), std=latents.std.cpu())


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """An asynchronous host-to-device copy (from pinned memory on CUDA)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def adam_step(optimizer, parameters, loss, loop: Loop, max_grad_norm: float | None = None, after=None) -> None:
    """``run_updates``' body for one update: backward, clip, AdamW, zero, restore; the eager loop reads the loss."""
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm, foreach=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if after is not None:
        after()
    if loop.host_syncs:
        float(loss.detach())


# ---------------------------------------------------------------------------------------------
# Steps: each builder prepares a pipeline and returns a function that runs one step


def textual_inversion_step(pipe, loop: Loop, size: int, batch: int, precision: str) -> Callable[[], None]:
    config = method_config("textual_inversion", loop, size, batch, precision)
    apply_memory_options(pipe, config)
    freeze(pipe.unet, pipe.vae)
    ids = add_placeholder_tokens(pipe, [config.placeholder_token], config.initializer_token)
    learned = install_learned_rows(pipe, ids)  # the token's row alone, as the method trains it
    parameters, restore = [learned.rows], learned.write_back
    optimizer = make_optimizer(parameters, config.learning_rate, config)
    scheduler, latents = training_scheduler(pipe), random_latents(pipe, size, EXEMPLARS)
    generator = torch.Generator().manual_seed(0)
    prompts = [CAPTION.format(config.placeholder_token)] * batch
    pipe.text_encoder.train()
    finish_pipe(pipe, loop)

    def step() -> None:
        chosen, noise, timesteps = device_draws(pipe, scheduler, latents, batch, generator, loop)
        with autocast(config, pipe.unet.device):
            loss = denoising_loss(pipe, scheduler, chosen, encode_prompts(pipe, prompts), timesteps, noise)
        adam_step(optimizer, parameters, loss, loop, after=restore)

    return step


def _dreambooth_family(method: str, pipe, loop: Loop, size: int, batch: int, precision: str,
                       trainable: Callable[[], list]) -> Callable[[], None]:
    config = method_config(method, loop, size, batch, precision)
    apply_memory_options(pipe, config)
    freeze(pipe.unet, pipe.vae, pipe.text_encoder)
    parameters = trainable()
    optimizer = make_optimizer(parameters, config.learning_rate, config)
    scheduler = training_scheduler(pipe)
    instance, prior = random_latents(pipe, size, EXEMPLARS), random_latents(pipe, size, EXEMPLARS + 1)
    generator = torch.Generator().manual_seed(0)
    pipe.unet.train()
    finish_pipe(pipe, loop)
    with torch.no_grad():
        hidden = encode_prompts(pipe, [CAPTION.format(config.identifier)] * batch)
        class_hidden = encode_prompts(pipe, [config.class_prompt] * batch)

    def step() -> None:
        with autocast(config, pipe.unet.device):
            loss = denoising_loss(pipe, scheduler, *_args(device_draws(pipe, scheduler, instance, batch, generator, loop),
                                                          hidden))
            if config.with_prior_preservation:
                loss = loss + config.prior_loss_weight * denoising_loss(
                    pipe, scheduler, *_args(device_draws(pipe, scheduler, prior, batch, generator, loop), class_hidden))
        adam_step(optimizer, parameters, loss, loop, config.max_grad_norm)

    return step


def _args(draws, hidden):
    latents, noise, timesteps = draws
    return latents, hidden, timesteps, noise


def dreambooth_step(pipe, loop, size, batch, precision):
    return _dreambooth_family("dreambooth", pipe, loop, size, batch, precision,
                              lambda: list(pipe.unet.requires_grad_(True).parameters()))


def dreambooth_lora_step(pipe, loop, size, batch, precision):
    from actionbench.methods.dreambooth_lora import add_lora

    return _dreambooth_family("dreambooth_lora", pipe, loop, size, batch, precision,
                              lambda: add_lora(pipe.unet, method_config("dreambooth_lora", loop, size, batch,
                                                                        precision).rank))


def custom_diffusion_step(pipe, loop: Loop, size: int, batch: int, precision: str) -> Callable[[], None]:
    import torch.nn.functional as F
    from actionbench.methods.custom_diffusion import custom_diffusion_processors

    config = method_config("custom_diffusion", loop, size, batch, precision)
    apply_memory_options(pipe, config)
    freeze(pipe.unet, pipe.vae, pipe.text_encoder)
    ids = add_placeholder_tokens(pipe, [config.modifier_token], config.initializer_token)
    learned = install_learned_rows(pipe, ids)
    restore = learned.write_back
    pipe.unet.set_attn_processor(custom_diffusion_processors(pipe.unet, config.attention))
    parameters = [learned.rows] + [p for p in pipe.unet.parameters() if p.requires_grad]
    optimizer = make_optimizer(parameters, config.learning_rate, config)
    scheduler, prior = training_scheduler(pipe), random_latents(pipe, size, EXEMPLARS + 1)
    generator = torch.Generator().manual_seed(0)
    device = pipe.unet.device
    pixels = torch.rand((batch, 3, size, size), generator=generator).to(device) * 2 - 1  # augmented photos
    latent = size // pipe.vae_scale_factor
    mask = torch.zeros(batch, 1, latent, latent, device=device)
    mask[..., latent // 4:3 * latent // 4, latent // 4:3 * latent // 4] = 1.0
    prompts = [CAPTION.format(config.modifier_token)] * batch
    pipe.unet.train()
    pipe.text_encoder.train()
    finish_pipe(pipe, loop)

    def step() -> None:
        with torch.no_grad():
            posterior = pipe.vae.encode(pixels.to(pipe.vae.dtype)).latent_dist
            latents = posterior.sample() * pipe.vae.config.scaling_factor
        with autocast(config, device):
            _, noise, timesteps = device_draws(pipe, scheduler, prior, batch, generator, loop)
            hidden = encode_prompts(pipe, prompts)
            prediction, target = prediction_and_target(pipe, scheduler, latents, hidden, timesteps, noise)
            error = F.mse_loss(prediction.float(), target.float(), reduction="none") * mask
            loss = (error.sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3)).clamp(min=1)).mean()
            class_latents, class_noise, class_timesteps = device_draws(pipe, scheduler, prior, batch, generator, loop)
            loss = loss + config.prior_loss_weight * denoising_loss(
                pipe, scheduler, class_latents, encode_prompts(pipe, [config.class_prompt] * batch), class_timesteps,
                class_noise)
        adam_step(optimizer, parameters, loss, loop, config.max_grad_norm, after=restore)

    return step


def _identifier_state(method, pipe, config, size: int):
    """An ``IdentifierTraining`` as ``PPlusMethod.prepare`` builds it, with random exemplar latents."""
    from actionbench.methods.layerwise import (
        IDENTIFIER_TOKEN,
        ensure_identifier_token,
        install_layerwise_attention,
        token_embedding,
    )

    generator = torch.Generator().manual_seed(0)
    freeze(pipe.unet, pipe.vae, pipe.text_encoder)
    apply_memory_options(pipe, config)
    layer_names = install_layerwise_attention(pipe.unet, pipe.tokenizer.model_max_length)
    token_id = ensure_identifier_token(pipe)
    count = len(layer_names) if config.layerwise else 1
    identifiers = torch.nn.Parameter(
        token_embedding(pipe, config.initializer_token).unsqueeze(0).repeat(count, 1).to(pipe.unet.device))
    return method.state_cls(
        pipe=pipe, config=config, scheduler=training_scheduler(pipe), latents=random_latents(pipe, size, EXEMPLARS),
        prompts=[CAPTION.format(IDENTIFIER_TOKEN)] * EXEMPLARS, sampler=ExemplarSampler(EXEMPLARS, generator),
        token_id=token_id, layer_names=layer_names, identifiers=identifiers, generator=generator,
        optimisation=optimisation([identifiers], config.learning_rate, config, pipe.unet.device,
                                  weight_decay=config.weight_decay))


def p_plus_step(pipe, loop: Loop, size: int, batch: int, precision: str) -> Callable[[], None]:
    from actionbench.methods.layerwise import encode_with_identifiers
    from actionbench.methods.p_plus import PPlusMethod

    method = PPlusMethod()
    state = _identifier_state(method, pipe, method_config("p_plus", loop, size, batch, precision), size)
    finish_pipe(pipe, loop)
    if loop.host_syncs:
        return lambda: method.optimization_step(state)
    generator = torch.Generator().manual_seed(1)

    def step() -> None:
        latents, noise, timesteps = device_draws(pipe, state.scheduler, state.latents, batch, generator, loop)
        with autocast(state.config, state.device):
            hidden = encode_with_identifiers(pipe, state.prompts[:batch], state.identifiers, state.token_id)
            loss = denoising_loss(pipe, state.scheduler, latents, hidden, timesteps, noise)
        (state.identifiers.grad,) = torch.autograd.grad(loss, state.identifiers)
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)

    return step


def adi_step(pipe, loop: Loop, size: int, batch: int, precision: str) -> Callable[[], None]:
    from actionbench.methods.adi import ADIMethod, gradient_mask

    method = ADIMethod()
    config = method_config("adi", loop, size, batch, precision)
    state = _identifier_state(method, pipe, config, size)
    per_exemplar = config.action_different_per_exemplar
    state.generated = random_latents(pipe, size, EXEMPLARS * per_exemplar)
    state.generated_counts = [per_exemplar] * EXEMPLARS
    state.generated_offsets = [per_exemplar * i for i in range(EXEMPLARS)]
    finish_pipe(pipe, loop)
    if loop.host_syncs:
        return lambda: method.optimization_step(state)
    device = state.device
    # The triples are drawn on the CPU by the method's own code; keeping their latents there and
    # copying each batch from pinned memory keeps the device queue free of host waits.
    state.latents = on_host(state.latents)
    state.generated = on_host(state.generated)

    def step() -> None:
        batch_ = method.draw_triple_batch(state)
        batch_ = replace(batch_, latents=to_device(batch_.latents, device), noise=to_device(batch_.noise, device),
                         timesteps=to_device(batch_.timesteps, device))
        gradients, _ = method.role_gradients(state, batch_)
        g = gradients[0]
        roles = batch_.roles
        keep = gradient_mask(g, gradients[roles.index("context")] if "context" in roles else None,
                             gradients[roles.index("action")] if "action" in roles else None, config, state.generator)
        before = state.identifiers.detach().clone()
        state.identifiers.grad = g * keep
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():  # masked channels unchanged, without a boolean index (a host read)
            state.identifiers.copy_(torch.where(keep, state.identifiers, before))

    return step


def cfg_step(pipe, loop: Loop, size: int, batch: int, precision: str) -> Callable[[], None]:
    """One denoising step of 50-step DDIM sampling with classifier-free guidance (7.5), as the pipeline runs it."""
    config = method_config("text", loop, size, batch, precision)
    apply_memory_options(pipe, config)
    pipe.unet.eval()
    device = pipe.unet.device
    pipe.scheduler.set_timesteps(50, device=device)
    with torch.inference_mode():
        hidden = torch.cat([encode_prompts(pipe, [""] * batch), encode_prompts(pipe, [CAPTION.format("cheering")] * batch)])
    finish_pipe(pipe, loop)
    latent = size // pipe.vae_scale_factor
    latents = torch.randn((batch, pipe.unet.config.in_channels, latent, latent), device=device)
    timestep = pipe.scheduler.timesteps[25]

    def step() -> torch.Tensor:
        with torch.inference_mode(), autocast(config, device):
            model_input = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), timestep)
            uncond, text = pipe.unet(model_input, timestep, encoder_hidden_states=hidden).sample.chunk(2)
            prediction = uncond + 7.5 * (text - uncond)
            return pipe.scheduler.step(prediction, timestep, latents).prev_sample

    return step


STEPS: dict[str, Callable] = {"textual_inversion": textual_inversion_step, "dreambooth": dreambooth_step,
                              "dreambooth_lora": dreambooth_lora_step, "custom_diffusion": custom_diffusion_step,
                              "p_plus": p_plus_step, "adi": adi_step, "cfg": cfg_step}


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Measurement:
    method: str
    size: int
    batch: int
    loop: str
    milliseconds: float
    peak_mib: float
    tflops: float
    speedup: float | None = None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def count_flops(step: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def measure(base, method: str, loop: Loop, size: int, batch: int, args, device: torch.device) -> Measurement:
    pipe = fresh_copy(base)  # every method changes its pipeline (tokens, adapters, processors)
    step = STEPS[method](pipe, loop, size, batch, args.precision)
    for _ in range(args.warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for _ in range(args.window):
            step()
        synchronize(device)
        times.append((time.perf_counter() - started) / args.window)
    seconds = statistics.median(times)
    peak = peak_memory_mib(device)
    flops = count_flops(step) if not loop.compile else 0  # counted on the eager graph below when compiled
    del pipe, step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return Measurement(method, size, batch, loop.name, 1000 * seconds, peak, flops / seconds / 1e12)


def measure_or_out_of_memory(base, method: str, loop: Loop, size: int, batch: int, args,
                             device: torch.device) -> Measurement:
    """:func:`measure`, or a row that says the step did not fit (NaN times): one configuration that
    runs out of device memory (the eager loop's unfused attention at 768 px) must not end the table."""
    try:
        return measure(base, method, loop, size, batch, args, device)
    except torch.OutOfMemoryError:
        gc.collect()  # the failed step's tensors are referenced from the exception's frames until now
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return Measurement(method, size, batch, loop.name, math.nan, peak_memory_mib(device), math.nan)


def table_head(device_name: str, args) -> list[str]:
    title = (f"training and denoising steps: {args.config} weights (random), {device_name}, {args.precision} "
             f"autocast, median of {args.repeats} windows of {args.window} steps, {time.strftime('%Y-%m-%d')}")
    header = (f"{COLUMNS[0]:<18} {COLUMNS[1]:>5} {COLUMNS[2]:>5} {COLUMNS[3]:<10} {COLUMNS[4]:>9} {COLUMNS[5]:>9} "
              f"{COLUMNS[6]:>8} {COLUMNS[7]:>8}")
    return [title, header]


def table_row(r: Measurement) -> str:
    """One measurement; a step that ran out of device memory reads ``OOM`` (its peak: the memory held then)."""
    speedup = f"{r.speedup:.2f}x" if r.speedup is not None and not math.isnan(r.speedup) else "-"
    milliseconds = "OOM" if math.isnan(r.milliseconds) else f"{r.milliseconds:.1f}"
    tflops = "-" if math.isnan(r.tflops) else f"{r.tflops:.3f}"
    return (f"{r.method:<18} {r.size:>5} {r.batch:>5} {r.loop:<10} {milliseconds:>9} {r.peak_mib:>9.0f} "
            f"{tflops:>8} {speedup:>8}")


def parse_list(text: str, kind=int) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", choices=("tiny", "sd21"), default="sd21", help="the pipeline's architecture")
    parser.add_argument("--sizes", default="512,768", help="image sizes in pixels (default: 512,768)")
    parser.add_argument("--batches", default="1,4", help="batch sizes (default: 1,4)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated: {', '.join(METHODS)}")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet in the optimised loop")
    parser.add_argument("--precision", choices=("bf16", "no"),
                        help="autocast (default: bf16 on a GPU; none on a CPU, where bf16 is emulated and slow)")
    parser.add_argument("--warmup", type=int, default=2, help="steps before timing (default: 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed windows; the median is reported (default: 5)")
    parser.add_argument("--window", type=int, default=2, help="steps per timed window (default: 2)")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in STEPS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}")
    factor = size_multiple(args.config)
    bad = [s for s in parse_list(args.sizes) if s % factor]
    if bad:
        parser.error(f"size(s) {', '.join(map(str, bad))} are not multiples of {factor} for --config {args.config}")
    device = torch.device(args.device)
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "no")
    base = build_pipeline(args.config, device)
    loops = (EAGER, replace(OPTIMISED, compile=args.compile))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print("\n".join(table_head(name, args)), flush=True)
    for method in methods:  # each pair of rows printed as it is measured: a run cut short keeps its rows
        for size in parse_list(args.sizes):
            for batch in parse_list(args.batches):
                eager, optimised = (measure_or_out_of_memory(base, method, loop, size, batch, args, device)
                                    for loop in loops)
                if args.compile:  # FlopCounterMode cannot see into a compiled graph: same maths as eager
                    optimised.tflops = eager.tflops * eager.milliseconds / optimised.milliseconds
                optimised.speedup = eager.milliseconds / optimised.milliseconds
                print(table_row(eager), table_row(optimised), sep="\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
