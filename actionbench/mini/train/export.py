"""Turn finished trainings into the shipped weights under ``actionbench/mini/weights``.

The text-to-image pipeline is saved with diffusers' ``save_pretrained``, its UNet and autoencoder in
fp16 (diffusers loads them back as fp32 unless asked otherwise; the quality bars are measured on
the shipped weights), its text encoder in fp32 (transformers would load fp16 as fp16), and its
tokenizer folder as CLIP's slow-tokenizer files (:func:`actionbench.mini.models.write_tokenizer_folder`:
1.5 MB, read by every transformers version), so the folder is a complete diffusers pipeline. The
other components are written by their own ``export`` functions.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from actionbench.mini.models import PIPELINE_DIR, load_tokenizer, scheduler_config, write_tokenizer_folder
from actionbench.mini.train.loop import CHECKPOINT, default_workdir


def load_trained_pipeline(unet_workdir: Path | None = None, vae_dir: Path | None = None, ema: bool = True):
    """A StableDiffusionPipeline (fp32) from the diffusion training's checkpoint and the exported VAE."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline

    from actionbench.mini.train.diffusion import build_models

    unet_workdir = Path(unet_workdir or default_workdir("unet"))
    vae_dir = Path(vae_dir or default_workdir("vae") / "export")
    tokenizer = load_tokenizer()
    unet, text_encoder = build_models(tokenizer)
    state = torch.load(unet_workdir / CHECKPOINT, map_location="cpu", weights_only=False)
    source = state["ema"] if ema and state.get("ema") else state["modules"]
    unet.load_state_dict(source["unet"])
    text_encoder.load_state_dict(source["text_encoder"])
    pipe = StableDiffusionPipeline(
        unet=unet.eval(), vae=AutoencoderKL.from_pretrained(vae_dir).eval(), text_encoder=text_encoder.eval(),
        tokenizer=tokenizer, scheduler=DDIMScheduler(**scheduler_config()), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def export_pipeline(unet_workdir: Path | None = None, vae_dir: Path | None = None,
                    out: Path = PIPELINE_DIR, dtype: torch.dtype = torch.float16) -> Path:
    from actionbench.base_models import quiet_libraries

    quiet_libraries()
    pipe = load_trained_pipeline(unet_workdir, vae_dir)
    # diffusers loads fp16 weights back as fp32 unless asked; transformers keeps the saved dtype,
    # so the text encoder stays fp32 and a plain from_pretrained gives one dtype throughout.
    pipe.unet.to(dtype=dtype)
    pipe.vae.to(dtype=dtype)
    staging = Path(tempfile.mkdtemp(prefix=".pipeline.", dir=Path(out).parent))
    try:
        pipe.save_pretrained(staging / "pipeline")
        shutil.rmtree(staging / "pipeline" / "tokenizer")  # transformers 5 writes only tokenizer.json (3.6 MB)
        write_tokenizer_folder(staging / "pipeline" / "tokenizer")
        if Path(out).exists():
            shutil.rmtree(out)
        (staging / "pipeline").rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(out)


def export_all(components: list[str], train_root: Path | None = None) -> list[str]:
    """Copy each finished training's export into the package; the pipeline needs both vae and unet."""
    from actionbench.errors import ActionBenchError
    from actionbench.mini.models import WEIGHTS_DIR

    def workdir(component: str) -> Path:
        return Path(train_root) / component if train_root else default_workdir(component)

    lines = []
    unknown = set(components) - {"vae", "unet", "clip", "keypoints", "judge"}
    if unknown:
        raise ActionBenchError(f"unknown component '{sorted(unknown)[0]}'", "use vae, unet, clip, keypoints or judge")
    if {"vae", "unet"} & set(components):
        vae_dir, unet_dir = workdir("vae") / "export", workdir("unet")
        if not (vae_dir / "config.json").is_file() or not (unet_dir / CHECKPOINT).is_file():
            raise ActionBenchError("the pipeline needs a finished vae and a unet checkpoint",
                                   "run: actionbench mini train --component vae, then --component unet")
        lines.append(f"pipeline -> {export_pipeline(unet_dir, vae_dir)}")
    for component, files in (("clip", ["open_clip_model.safetensors"]),
                             ("keypoints", ["config.json", "model.safetensors"]),
                             ("judge", ["config.json", "model.safetensors"])):
        if component not in components:
            continue
        source = workdir(component) / "export"
        if not all((source / f).is_file() for f in files):
            raise ActionBenchError(f"{component} has no finished training in {source.parent}",
                                   f"run: actionbench mini train --component {component}")
        target = WEIGHTS_DIR / component
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(source / name, target / name)
        lines.append(f"{component} -> {target}")
    return lines
