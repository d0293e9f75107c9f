"""Base text-to-image models: a diffusers Stable Diffusion pipeline by name, Hugging Face id or path.

Named bases are registered (``tiny``: random weights from small configs, as diffusers' own tests
build them; ``mini``: ActionBench-Mini's trained world model), and a registered name always wins.
Anything else is passed to ``StableDiffusionPipeline.from_pretrained``: a local folder with
``model_index.json`` (written as a path, ``./mini``, or holding that file) or a hub id.
Every call of :meth:`BaseModel.load` returns a fresh pipeline that a method may change freely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_folder, stable_hash
from actionbench.hub import hub_reachable
from actionbench.paths import cache_dir
from actionbench.registry import Registry

# A named base returns the folder of a diffusers pipeline saved with save_pretrained.
BASE_MODELS: Registry[Callable[[], Path]] = Registry("base model")
BASE_MODELS.lazy("tiny", "actionbench.base_models:build_tiny_pipeline",
                 "random-weight Stable Diffusion from small configs (64 px); for tests, numbers mean nothing")
BASE_MODELS.lazy("mini", "actionbench.mini.models:mini_pipeline_path",
                 "ActionBench-Mini's trained text-to-image model (32 px, shipped with the package)")

REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass(frozen=True)
class BaseModel:
    """A base model by name; ``folder`` is set when the weights are on this machine."""

    name: str
    folder: Path | None

    @property
    def identity(self) -> dict[str, Any]:
        """What a result depends on: the name and, for local folders, the model index's content."""
        index = self.folder / "model_index.json" if self.folder else None
        return {"name": self.name, "index": stable_hash(index.read_text()) if index and index.is_file() else None}

    def check_available(self) -> None:
        """For a hub id: find its model index in the local cache, or reach the hub now, so a model that
        cannot be had fails at planning, in seconds, not inside every unit."""
        if self.folder is not None:
            return
        fix = ("download it on a machine with network access (it is then cached), or pass a local folder "
               "holding a diffusers Stable Diffusion pipeline")
        if _load_model_index(self.name, local_only=True):
            return
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ActionBenchError(f"base model '{self.name}' is not in the local cache and HF_HUB_OFFLINE=1", fix)
        if not hub_reachable():
            raise ActionBenchError(f"base model '{self.name}' is not in the local cache and the hub cannot be reached",
                                   fix)
        if not _load_model_index(self.name, local_only=False):
            raise ActionBenchError(f"base model '{self.name}' has no model_index.json on the hub",
                                   "check the id; it must be a diffusers Stable Diffusion pipeline")

    def load(self, device: str = "cpu", dtype: Any = None):
        from diffusers import StableDiffusionPipeline

        quiet_libraries()
        source = str(self.folder) if self.folder else self.name
        try:
            pipe = StableDiffusionPipeline.from_pretrained(
                source, torch_dtype=dtype, safety_checker=None, feature_extractor=None,
                requires_safety_checker=False, local_files_only=self.folder is not None
                or os.environ.get("HF_HUB_OFFLINE") == "1")
        except (OSError, ValueError) as error:
            raise ActionBenchError(
                f"base model '{self.name}' cannot be loaded ({_short(error)})",
                "pass a local folder holding a diffusers Stable Diffusion pipeline (model_index.json), "
                "or a Hugging Face id on a machine that can download it") from error
        missing = [c for c in REQUIRED_COMPONENTS if getattr(pipe, c, None) is None]
        if missing:
            raise ActionBenchError(f"base model '{self.name}' is not Stable Diffusion-like (no {', '.join(missing)})",
                                   "use an SD 1.x/2.x checkpoint")
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device)


def looks_like_path(text: str) -> bool:
    """Written as a path: a separator in it, or a leading ``.`` or ``~``. A bare word is a name."""
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return text.startswith((".", "~")) or any(separator in text for separator in separators)


def resolve_base_model(name_or_path: str) -> BaseModel:
    """A registered name first, so a folder called ``mini`` in the working directory never shadows the
    default; then a folder, when the text is written as a path or names a folder holding a pipeline
    (``model_index.json``); then a Hugging Face id (``owner/name``)."""
    if name_or_path in BASE_MODELS.names():
        return BaseModel(name=name_or_path, folder=Path(BASE_MODELS.get(name_or_path)()))
    path = Path(name_or_path).expanduser()
    if path.exists() and (looks_like_path(name_or_path) or (path / "model_index.json").is_file()):
        if not (path / "model_index.json").is_file():
            raise ActionBenchError(f"base model folder {path} has no model_index.json",
                                   "point --base-model at a diffusers pipeline saved with save_pretrained")
        return BaseModel(name=str(path), folder=path.resolve())
    if "/" in name_or_path and not name_or_path.startswith((".", "/", "~")):
        return BaseModel(name=name_or_path, folder=None)  # a hub id: from_pretrained resolves it
    raise ActionBenchError(f"base model '{name_or_path}' not found",
                           f"use {', '.join(BASE_MODELS.names())}, a local pipeline folder, or a Hugging Face id")


def _load_model_index(name: str, local_only: bool) -> bool:
    import warnings

    from diffusers import DiffusionPipeline

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DiffusionPipeline.load_config(name, local_files_only=local_only)
        return True
    except Exception:  # noqa: BLE001  missing, unreachable or unparsable all mean "not usable here"
        return False


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' own progress bars and warnings; the suite shows its own."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


# ---------------------------------------------------------------------------------------------
# The tiny random pipeline (tests and the pre-mini default).

TINY_VERSION = "tiny-sd-v1"


def build_tiny_pipeline() -> Path:
    """Build (once, cached) a 64 px Stable Diffusion with random weights and return its folder.

    Configs follow diffusers' own pipeline tests; the tokenizer is CLIP's real vocabulary, so
    placeholder tokens and prompts behave as on a real checkpoint. Seeded: every machine builds the
    same weights.
    """
    folder = cache_dir("base-models") / TINY_VERSION
    if (folder / "model_index.json").is_file():
        return folder
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from actionbench.tokenizer import clip_tokenizer

    quiet_libraries()
    with atomic_folder(folder) as build:
        tokenizer = clip_tokenizer(cache_dir("tokenizers", "clip"))
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=32)
        vae = AutoencoderKL(
            block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=32, sample_size=64)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        pipe.save_pretrained(build)
    return folder
