"""Train the mini world's text-to-image model: a UNet and a CLIP text encoder, jointly, on latents.

As Stable Diffusion is trained (epsilon prediction on the DDPM schedule of :func:`scheduler_config`),
with three choices for a small CPU budget, each a published recipe: Min-SNR-5 loss weighting (Hang et
al., ICCV 2023) for faster convergence, an EMA of the weights (decay 0.999) as the exported model,
and 10% empty captions so classifier-free guidance works. Latents are encoded once with the trained
autoencoder. Captions are drawn afresh at every step from each image's facts (:func:`world.caption`),
so the model sees each factor named and left out; held-out actions never occur in this data.
"""

from __future__ import annotations

import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_bytes, file_sha256
from actionbench.mini.datasets import facts_of, load_or_render
from actionbench.mini.models import load_tokenizer, scheduler_config, text_encoder_config, unet_config
from actionbench.mini.train.loop import Trainer, TrainSettings, default_workdir, to_unit_range
from actionbench.mini.world import caption

DEFAULTS = TrainSettings(steps=16000, batch_size=64, lr=5e-4, warmup=200, save_every=250, eval_every=1000,
                         log_every=50, ema_decay=0.999, weight_decay=0.01)
EMPTY_CAPTION = 0.1
MIN_SNR_GAMMA = 5.0
PRETRAIN_COUNT = 80_000


def build_models(tokenizer):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    return UNet2DConditionModel(**unet_config()), CLIPTextModel(CLIPTextConfig(**text_encoder_config(tokenizer)))


def training_scheduler():
    from diffusers import DDPMScheduler

    config = {k: v for k, v in scheduler_config().items() if k not in ("set_alpha_to_one", "steps_offset")}
    return DDPMScheduler(**config)


@torch.no_grad()
def encode_latents(vae, images: np.ndarray, cache: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std of every image (scaled), cached beside the training's checkpoints (written
    atomically; a cache that cannot be read or does not match ``images`` is recomputed, not trusted)."""
    cached = read_latents(cache, len(images))
    if cached is not None:
        return cached
    means, stds = [], []
    for start in range(0, len(images), 512):
        posterior = vae.encode(to_unit_range(images[start:start + 512])).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    scale = vae.config.scaling_factor
    mean, std = torch.cat(means) * scale, torch.cat(stds) * scale
    buffer = io.BytesIO()
    torch.save({"mean": mean, "std": std}, buffer)
    atomic_write_bytes(cache, buffer.getvalue())
    return mean, std


def read_latents(cache: Path, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached (mean, std) of ``count`` images, or None when absent, damaged or of another size."""
    try:
        state = torch.load(cache, weights_only=True)
        mean, std = state["mean"], state["std"]
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError):
        return None
    if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor)) or len(mean) != count \
            or mean.shape != std.shape:
        return None
    return mean, std


class CaptionTokens:
    """Tokenize captions with a memo: the world's captions repeat, the tokenizer is slow-ish."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.memo: dict[str, list[int]] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        missing = [c for c in dict.fromkeys(captions) if c not in self.memo]
        if missing:
            ids = self.tokenizer(missing, padding="max_length", max_length=self.tokenizer.model_max_length,
                                 truncation=True).input_ids
            self.memo.update(zip(missing, ids))
        return torch.tensor([self.memo[c] for c in captions])


def min_snr_weights(scheduler, timesteps: torch.Tensor, gamma: float = MIN_SNR_GAMMA) -> torch.Tensor:
    alphas = scheduler.alphas_cumprod[timesteps]
    snr = alphas / (1 - alphas)
    return torch.clamp(snr, max=gamma) / snr


def load_pipeline_weights(unet, text_encoder, folder: Path) -> None:
    """Start from an exported pipeline's UNet and text encoder (``--init``, e.g. the shipped
    ``actionbench/mini/weights/pipeline``): a longer training continues where that one ended."""
    from safetensors.torch import load_file

    for module, path in ((unet, folder / "unet" / "diffusion_pytorch_model.safetensors"),
                         (text_encoder, folder / "text_encoder" / "model.safetensors")):
        if not path.is_file():
            raise ActionBenchError(f"--init {folder} holds no {path.parent.name} weights ({path.name})",
                                   "give an exported pipeline folder, e.g. actionbench/mini/weights/pipeline")
        try:
            module.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
        except RuntimeError as error:
            raise ActionBenchError(f"--init {folder}: its {path.parent.name} is not the mini world's architecture "
                                   f"({str(error).splitlines()[0]})", "give a pipeline exported by this version") from error


def train(settings: TrainSettings = DEFAULTS, workdir: Path | None = None, vae_dir: Path | None = None) -> Path:
    from diffusers import AutoencoderKL

    workdir = Path(workdir or default_workdir("unet"))
    workdir.mkdir(parents=True, exist_ok=True)  # the latents' cache is written into it before the trainer starts
    vae_dir = Path(vae_dir or default_workdir("vae") / "export")
    pipeline_vae = Path(settings.init) / "vae" if settings.init else None
    if pipeline_vae and (pipeline_vae / "config.json").is_file() and not (vae_dir / "config.json").is_file():
        # a continued pipeline keeps its own autoencoder, put where `mini export` reads it
        shutil.copytree(pipeline_vae, vae_dir, dirs_exist_ok=True)
    if not (vae_dir / "config.json").is_file():
        raise ActionBenchError(f"the unet's training needs a trained autoencoder; {vae_dir} holds none",
                               f"run: actionbench mini train --component vae (or copy the shipped "
                               f"actionbench/mini/weights/pipeline/vae into {vae_dir})")
    data = load_or_render("pretrain", PRETRAIN_COUNT)
    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    vae_hash = file_sha256(vae_dir / "diffusion_pytorch_model.safetensors")[:12]
    latent_mean, latent_std = encode_latents(vae, data.images, workdir / f"latents-{vae_hash}.pt")
    tokenizer = load_tokenizer()
    tokens = CaptionTokens(tokenizer)
    torch.manual_seed(settings.seed)
    unet, text_encoder = build_models(tokenizer)
    if settings.init:
        load_pipeline_weights(unet, text_encoder, Path(settings.init))
    scheduler = training_scheduler()
    trainer = Trainer(workdir, {"unet": unet, "text_encoder": text_encoder}, settings)
    count = scheduler.config.num_train_timesteps
    device = torch.device(settings.device)

    def step(t: Trainer) -> dict[str, float]:
        rng = t.rng()
        generator = t.torch_generator()  # every random draw on the CPU: any device sees the same batches
        index = rng.integers(0, len(data), settings.batch_size)
        captions = [caption(facts_of(data, int(i)), rng, empty=EMPTY_CAPTION) for i in index]
        latents = latent_mean[index] + latent_std[index] * torch.randn(latent_mean[index].shape, generator=generator)
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, count, (len(index),), generator=generator)
        noisy = scheduler.add_noise(latents, noise, timesteps).to(device)
        hidden = text_encoder(tokens(captions).to(device))[0]
        prediction = unet(noisy, timesteps.to(device), hidden).sample
        per_sample = F.mse_loss(prediction, noise.to(device), reduction="none").mean(dim=(1, 2, 3))
        loss = (per_sample * min_snr_weights(scheduler, timesteps).to(device)).mean()
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for m in t.modules.values() for p in m.parameters()], 1.0)
        t.optimizer.step()
        return {"loss": loss.item(), "mse": per_sample.mean().item()}

    trainer.run(step, lambda t: sample_evaluation(t, vae, tokenizer, workdir.parent))
    return workdir


def sample_evaluation(trainer: Trainer, vae, tokenizer, train_root: Path, images: int = 100) -> dict[str, float]:
    """Judge images the EMA model draws from held-in prompts (needs the judge and keypoint trainings)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from actionbench.mini.judge import load_judge
    from actionbench.mini.keypoints import MiniKeypointBackend, load_keypoint_net
    from actionbench.mini.models import scheduler_config
    from actionbench.mini.quality import base_model_scores
    from actionbench.mini.world import HELD_IN_ACTIONS

    judge_dir, keypoints_dir = train_root / "judge" / "export", train_root / "keypoints" / "export"
    if not (judge_dir / "model.safetensors").is_file() or not (keypoints_dir / "model.safetensors").is_file():
        return {}
    backend = MiniKeypointBackend.__new__(MiniKeypointBackend)
    backend.device, backend.batch_size, backend.net = "cpu", 64, load_keypoint_net(keypoints_dir)
    pipe = StableDiffusionPipeline(unet=trainer.final("unet"), vae=vae, text_encoder=trainer.final("text_encoder"),
                                   tokenizer=tokenizer, scheduler=DDIMScheduler(**scheduler_config()),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(trainer.settings.device)  # the autoencoder joins the trained modules (its latents are cached)
    pipe.set_progress_bar_config(disable=True)
    scores = base_model_scores(pipe, images, seed=1, steps=25, guidance=5.0, judge=load_judge(judge_dir),
                               backend=backend)
    per_action = {f"oks_{action}" for action in HELD_IN_ACTIONS}
    return {k: v for k, v in scores.items() if k not in per_action}  # the means and their intervals
