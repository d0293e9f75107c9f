"""What every trainable method shares, written once: data, noise, timesteps, the loss, precision.

Follows diffusers' training examples (``examples/textual_inversion``, ``examples/dreambooth``):
DDPM noise schedule from the base model's scheduler config, uniformly drawn timesteps unless a
method weights them, epsilon or v-prediction targets per the scheduler config, frozen VAE. The
exemplars' latent distributions are encoded once per training (the VAE never changes) and a latent
is drawn from them at every step, as the examples do by encoding each step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.data import Action
from actionbench.data.preprocess import exemplar_image
from actionbench.errors import ActionBenchError


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for the method's own draws."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def native_resolution(pipe) -> int:
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


def training_resolution(pipe, config) -> int:
    size = config.resolution or native_resolution(pipe)
    if size % pipe.vae_scale_factor:
        raise ActionBenchError(f"resolution {size} is not a multiple of {pipe.vae_scale_factor}",
                               f"choose a multiple of {pipe.vae_scale_factor}")
    return size


def pil_to_tensor(images) -> torch.Tensor:
    """PIL images -> float tensor in [-1, 1], shape (N, 3, H, W)."""
    array = np.stack([np.asarray(image, dtype=np.float32) for image in images]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


@dataclass
class ExemplarLatents:
    """The exemplars' VAE posteriors, encoded once; :meth:`sample` draws latents like the examples do."""

    mean: torch.Tensor  # (N, C, h, w), already multiplied by the VAE's scaling factor
    std: torch.Tensor

    def __len__(self) -> int:
        return self.mean.shape[0]

    def sample(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.mean[indices].shape, generator=generator).to(self.mean.device, self.mean.dtype)
        return self.mean[indices] + self.std[indices] * noise


@torch.no_grad()
def encode_images(pipe, images) -> ExemplarLatents:
    """Encode PIL images with the pipeline's VAE (no gradients; the VAE is frozen)."""
    vae = pipe.vae
    pixels = pil_to_tensor(images).to(vae.device, vae.dtype)
    posterior = vae.encode(pixels).latent_dist
    scale = vae.config.scaling_factor
    return ExemplarLatents(mean=posterior.mean * scale, std=posterior.std * scale)


def encode_exemplars(pipe, action: Action, size: int) -> ExemplarLatents:
    return encode_images(pipe, [exemplar_image(e, size) for e in action.exemplars])


def training_scheduler(pipe):
    """DDPM over the base model's noise schedule (as diffusers' training examples do)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler.config)


def sample_timesteps(scheduler, batch: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform timesteps, or drawn with probability proportional to ``weights`` (one per timestep)."""
    count = scheduler.config.num_train_timesteps
    if weights is None:
        return torch.randint(0, count, (batch,), generator=generator)
    return torch.multinomial(weights / weights.sum(), batch, replacement=True, generator=generator)


def denoising_loss(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                   timesteps: torch.Tensor, noise: torch.Tensor, reduction: str = "mean",
                   cross_attention_kwargs: dict | None = None) -> torch.Tensor:
    """The diffusion objective: MSE between the UNet's prediction and its target.

    ``reduction="none"`` returns one loss per sample (used by ADI to read per-sample gradients).
    """
    device = pipe.unet.device
    timesteps = timesteps.to(device)
    noise = noise.to(device, latents.dtype)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = pipe.unet(noisy, timesteps, encoder_hidden_states,
                           cross_attention_kwargs=cross_attention_kwargs).sample
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        raise ActionBenchError(f"the base model's scheduler predicts '{kind}'", "use an epsilon or v-prediction model")
    loss = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return loss.mean() if reduction == "mean" else loss


def encode_prompts(pipe, prompts: list[str]) -> torch.Tensor:
    """Prompt strings -> the text encoder's last hidden states (with gradients where parameters allow)."""
    tokens = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids.to(pipe.text_encoder.device)
    return pipe.text_encoder(tokens)[0]


def add_placeholder_tokens(pipe, tokens: list[str], initializer: str) -> list[int]:
    """Add new tokens to the tokenizer and give each the embedding of ``initializer``'s first token."""
    added = pipe.tokenizer.add_tokens(tokens)
    if added != len(tokens):
        raise ActionBenchError(f"the tokenizer already contains one of {tokens}", "choose another placeholder token")
    ids = pipe.tokenizer.convert_tokens_to_ids(tokens)
    init_ids = pipe.tokenizer.encode(initializer, add_special_tokens=False)
    if not init_ids:
        raise ActionBenchError(f"initializer word '{initializer}' is empty after tokenizing", "choose a word")
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer), mean_resizing=False)
    embeddings = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for token_id in ids:
            embeddings[token_id] = embeddings[init_ids[0]].clone()
    return ids


def freeze(*modules) -> None:
    for module in modules:
        module.requires_grad_(False)


def autocast(config, device: torch.device):
    """bf16/fp16 autocast when ``config.mixed_precision`` asks for it, else nothing."""
    if config.mixed_precision == "no":
        return contextlib.nullcontext()
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    if config.mixed_precision not in dtypes:
        raise ActionBenchError(f"mixed_precision is '{config.mixed_precision}'", "use no, fp16 or bf16")
    return torch.autocast(device_type=device.type, dtype=dtypes[config.mixed_precision])


def apply_memory_options(pipe, config) -> None:
    """Gradient checkpointing and the attention implementation, as chosen in the config."""
    if config.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        encoder = pipe.text_encoder  # transformers 5.x renamed the switch; older releases have only the old name
        getattr(encoder, "activation_checkpointing_enable", encoder.gradient_checkpointing_enable)()
    if config.attention == "sdpa":
        from diffusers.models.attention_processor import AttnProcessor2_0

        pipe.unet.set_attn_processor(AttnProcessor2_0())
    elif config.attention == "default":
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())
    else:
        raise ActionBenchError(f"attention is '{config.attention}'", "use sdpa or default")


def make_optimizer(parameters, lr: float, config, weight_decay: float = 1e-2):
    """AdamW (diffusers' examples' defaults), or bitsandbytes' 8-bit AdamW when asked and installed."""
    parameters = list(parameters)
    if config.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError as error:
            raise ActionBenchError("use_8bit_adam needs bitsandbytes", "pip install bitsandbytes, or turn it off") from error
        return bnb.optim.AdamW8bit(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8)
    return torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, eps=1e-8)


def scaled_learning_rate(lr: float, config, scale: bool) -> float:
    """diffusers' ``--scale_lr``: lr x batch size x accumulation steps."""
    return lr * config.train_batch_size * config.gradient_accumulation_steps if scale else lr


@torch.no_grad()
def fixed_evaluation_loss(pipe, latents: torch.Tensor, encoder_hidden_states: torch.Tensor, seed: int = 1234,
                          cross_attention_kwargs: dict | None = None) -> float:
    """Denoising loss on held-fixed noise and timesteps: comparable before and after training."""
    scheduler = training_scheduler(pipe)
    generator = torch.Generator().manual_seed(seed)
    count = scheduler.config.num_train_timesteps
    timesteps = torch.linspace(count * 0.1, count * 0.9, latents.shape[0]).long()
    noise = torch.randn(latents.shape, generator=generator)
    return float(denoising_loss(pipe, scheduler, latents, encoder_hidden_states, timesteps, noise,
                                cross_attention_kwargs=cross_attention_kwargs))


# ---------------------------------------------------------------------------------------------
# Added for the baselines (issue 5); ADI may use them too. Input checks that run at planning time,
# the optimisation loop of diffusers' examples, batches drawn from encoded images, and the
# bookkeeping of trainable token embeddings.

TEMPLATE_SLOT = "{}"  # where a caption template (ActionBench's text.json) puts the action identifier


def check_templates(action: Action, method: str) -> None:
    """Every exemplar's caption template needs the ``{}`` slot: the identifier goes there."""
    for exemplar in action.exemplars:
        if TEMPLATE_SLOT not in exemplar.template:
            raise ActionBenchError(
                f"the caption template of exemplar {exemplar.image_path.name} of action '{action.name}' "
                f"('{exemplar.template}') has no {{}} slot for {method}'s identifier",
                "write {} where the action goes, e.g. 'a man {} on a beach'")


def fill_template(template: str, words: str) -> str:
    """A caption template with the identifier (or words) in its ``{}`` slot, spaces normalised."""
    return " ".join(template.replace(TEMPLATE_SLOT, words).split())


def training_prompts(action: Action, identifier: str) -> list[str]:
    """One training prompt per exemplar: its own caption with the identifier (ReVersion's and
    ActionBench's convention), in the order of ``action.exemplars``."""
    return [fill_template(e.template, identifier) for e in action.exemplars]


def check_training_options(config) -> None:
    """Refuse memory options that cannot work here before any training starts."""
    if config.mixed_precision not in ("no", "fp16", "bf16"):
        raise ActionBenchError(f"mixed_precision is '{config.mixed_precision}'", "use no, fp16 or bf16")
    if config.attention not in ("sdpa", "default"):
        raise ActionBenchError(f"attention is '{config.attention}'", "use sdpa or default")
    if config.use_8bit_adam and importlib.util.find_spec("bitsandbytes") is None:
        raise ActionBenchError("use_8bit_adam needs bitsandbytes", "pip install bitsandbytes, or turn it off")
    for name in ("steps", "train_batch_size", "gradient_accumulation_steps"):
        value = getattr(config, name, 1)
        if value < 1:
            raise ActionBenchError(f"{name} is {value}", f"set {name} to 1 or more")


def require_sd_like(pipe) -> None:
    """The training code needs Stable Diffusion's pieces: a text-conditioned UNet without extra
    conditioning (SDXL's), a CLIP-like text encoder with a token table, a VAE, an epsilon or
    v-prediction noise schedule."""
    from diffusers import UNet2DConditionModel

    unet = getattr(pipe, "unet", None)
    problem = None
    if not isinstance(unet, UNet2DConditionModel) or not unet.config.cross_attention_dim:
        problem = f"its denoiser is {type(unet).__name__}, not a text-conditioned UNet2DConditionModel"
    elif unet.config.addition_embed_type is not None:
        problem = f"its UNet needs extra '{unet.config.addition_embed_type}' conditioning (SDXL-like)"
    elif not hasattr(getattr(pipe, "text_encoder", None), "get_input_embeddings"):
        problem = "it has no text encoder with a token embedding table"
    elif not hasattr(getattr(pipe, "tokenizer", None), "add_tokens"):
        problem = "it has no tokenizer that accepts new tokens"
    elif not hasattr(getattr(pipe, "vae", None), "encode"):
        problem = "it has no VAE"
    elif pipe.scheduler.config.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction"):
        problem = f"its scheduler predicts '{pipe.scheduler.config.prediction_type}'"
    if problem:
        raise ActionBenchError(f"the base model is not Stable Diffusion-like ({problem})",
                               "use an SD 1.x/2.x checkpoint")


@torch.no_grad()
def encode_images_batched(pipe, images, batch_size: int = 8) -> ExemplarLatents:
    """:func:`encode_images` in chunks, for image sets too large for one VAE pass (class images)."""
    parts = [encode_images(pipe, images[start:start + batch_size]) for start in range(0, len(images), batch_size)]
    return ExemplarLatents(mean=torch.cat([p.mean for p in parts]), std=torch.cat([p.std for p in parts]))


class ExemplarSampler:
    """Indices drawn epoch by epoch, each epoch a fresh permutation: a shuffled DataLoader's order."""

    def __init__(self, count: int, generator: torch.Generator):
        self.count = count
        self.generator = generator
        self._queue: list[int] = []

    def draw(self, batch: int) -> torch.Tensor:
        while len(self._queue) < batch:
            self._queue.extend(torch.randperm(self.count, generator=self.generator).tolist())
        indices, self._queue = self._queue[:batch], self._queue[batch:]
        return torch.tensor(indices, dtype=torch.long)


@dataclass
class TrainingImages:
    """Encoded images with one prompt each, and the order they are drawn in."""

    latents: ExemplarLatents
    prompts: list[str]
    sampler: ExemplarSampler

    @classmethod
    def build(cls, latents: ExemplarLatents, prompts: list[str], generator: torch.Generator) -> "TrainingImages":
        if len(prompts) != len(latents):
            raise ValueError(f"{len(prompts)} prompts for {len(latents)} images")
        return cls(latents, prompts, ExemplarSampler(len(prompts), generator))


def draw_denoising_loss(pipe, scheduler, images: TrainingImages, batch: int, generator: torch.Generator,
                        timestep_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, list[str]]:
    """One micro-batch: draw images, a latent from each posterior, noise and timesteps; return the
    per-sample denoising loss and the prompts used (a method may add its own loss on them)."""
    indices = images.sampler.draw(batch)
    latents = images.latents.sample(indices, generator)
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = sample_timesteps(scheduler, batch, generator, timestep_weights)
    prompts = [images.prompts[i] for i in indices.tolist()]
    hidden = encode_prompts(pipe, prompts)
    return denoising_loss(pipe, scheduler, latents, hidden, timesteps, noise, reduction="none"), prompts


def prediction_and_target(pipe, scheduler, latents: torch.Tensor, encoder_hidden_states: torch.Tensor,
                          timesteps: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The UNet's prediction and its target, unreduced (for losses with a spatial mask)."""
    device = pipe.unet.device
    timesteps = timesteps.to(device)
    noise = noise.to(device, latents.dtype)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = pipe.unet(noisy, timesteps, encoder_hidden_states).sample
    if scheduler.config.prediction_type == "v_prediction":
        return prediction, scheduler.get_velocity(latents, noise, timesteps)
    return prediction, noise


def run_updates(parameters, step_loss, steps: int, lr: float, config, device: torch.device, *,
                max_grad_norm: float | None = None, after_update=None) -> list[float]:
    """The optimisation loop of diffusers' training examples, constant learning rate, no warm-up.

    Each of ``steps`` updates averages ``config.gradient_accumulation_steps`` calls of
    ``step_loss() -> scalar tensor`` under the configured autocast; fp16 on CUDA scales the loss as
    accelerate does. ``after_update()`` runs after every update (TI restores frozen token rows).
    Returns the mean loss of each update.
    """
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise RuntimeError("no trainable parameters")
    optimizer = make_optimizer(parameters, lr, config)
    scaler = torch.amp.GradScaler(device.type, enabled=config.mixed_precision == "fp16" and device.type == "cuda")
    accumulation = config.gradient_accumulation_steps
    history = []
    for _ in range(steps):
        total = 0.0
        for _ in range(accumulation):
            with autocast(config, device):
                loss = step_loss() / accumulation
            scaler.scale(loss).backward()
            total += float(loss.detach())
        if max_grad_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if after_update is not None:
            after_update()
        history.append(total)
    return history


def train_token_embeddings(pipe, token_ids: list[int]):
    """Make only the rows ``token_ids`` of the text encoder's token table learnable.

    The whole table is handed to the optimizer (as diffusers' textual-inversion example does); the
    returned ``restore()`` puts every other row back after each update, undoing weight decay there.
    Returns (parameters, restore).
    """
    encoder = pipe.text_encoder
    encoder.requires_grad_(False)
    weight = encoder.get_input_embeddings().weight
    weight.requires_grad_(True)
    original = weight.detach().clone()
    frozen = torch.ones(weight.shape[0], dtype=torch.bool)
    frozen[token_ids] = False
    frozen = frozen.to(weight.device)

    def restore() -> None:
        with torch.no_grad():
            weight[frozen] = original[frozen]

    return [weight], restore


def model_fingerprint(pipe) -> str:
    """A short hash naming the base model: its source and a few of its weights (cheap, exact)."""
    import hashlib

    digest = hashlib.sha256(str(pipe.config.get("_name_or_path", "")).encode())
    digest.update(str(dict(pipe.unet.config)).encode())
    for tensor in (pipe.unet.conv_in.weight, pipe.unet.conv_out.weight,
                   pipe.text_encoder.get_input_embeddings().weight[:64], pipe.vae.decoder.conv_out.weight):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_once(pipe, artifact, load) -> None:
    """Run ``load()`` (put an artifact into ``pipe``) unless this pipe already holds ``artifact``.

    The runner generates in chunks with one base pipeline, so ``generate`` is called many times.
    """
    key = str(artifact)
    loaded = getattr(pipe, "_actionbench_artifacts", None)
    if loaded is None:
        loaded = set()
        object.__setattr__(pipe, "_actionbench_artifacts", loaded)
    if key not in loaded:
        load()
        loaded.add(key)


ARTIFACT_INFO = "actionbench.json"  # beside the diffusers files of an artifact: identifier, training log


def write_artifact_info(folder, info: dict) -> None:
    """What ``generate`` needs besides the diffusers files (the identifier), plus the training log."""
    from pathlib import Path

    from actionbench.fileio import atomic_write_json

    atomic_write_json(Path(folder) / ARTIFACT_INFO, info)


def read_artifact_info(folder) -> dict:
    from pathlib import Path

    from actionbench.fileio import read_json

    path = Path(folder) / ARTIFACT_INFO
    if not path.is_file():
        raise ActionBenchError(f"the trained artifact {folder} has no {ARTIFACT_INFO}",
                               "re-run training for this method and action")
    return read_json(path)
