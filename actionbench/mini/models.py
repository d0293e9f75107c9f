"""The mini world's text-to-image model: small diffusers components, and the shipped pipeline's folder.

The shipped weights live in ``actionbench/mini/weights/pipeline`` (a ``save_pretrained`` folder
without its tokenizer: CLIP's vocabulary is rebuilt offline by :mod:`actionbench.tokenizer`).
:func:`mini_pipeline_path` assembles the full pipeline once into the cache and returns its folder,
so ``BASE_MODELS["mini"]`` is "just another" diffusers Stable Diffusion pipeline.

Sizes are chosen for training on a 2-core CPU at 32 px (see ``shared/references/environment.md``):
images 32x32 -> latents 8x8x4 (a 0.7M-parameter autoencoder); a 4.2M-parameter UNet (0.08 GFLOP a
sample) and a 4-layer, 64-wide text encoder whose
tokenizer pads to 32 tokens (SD's 77 would double the text encoder's cost for nothing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_folder, file_sha256, stable_hash
from actionbench.paths import cache_dir

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PIPELINE_DIR = WEIGHTS_DIR / "pipeline"
IMAGE_SIZE = 32
TEXT_WIDTH = 64  # CLIP's 49,408-token vocabulary makes the embedding table most of the text encoder
# Prompts are padded to this many tokens (SD: 77). The world's longest caption is about 26 tokens.
MAX_TOKENS = 32


def vae_config() -> dict:
    return dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 64),
                down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                layers_per_block=1, norm_num_groups=8, sample_size=IMAGE_SIZE)


def unet_config(cross_attention_dim: int = TEXT_WIDTH) -> dict:
    return dict(sample_size=IMAGE_SIZE // 4, in_channels=4, out_channels=4, layers_per_block=1,
                block_out_channels=(32, 64, 128), down_block_types=("CrossAttnDownBlock2D",) * 3,
                up_block_types=("CrossAttnUpBlock2D",) * 3, cross_attention_dim=cross_attention_dim,
                attention_head_dim=8, norm_num_groups=16)


def text_encoder_config(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH, num_hidden_layers=4,
                num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def scheduler_config() -> dict:
    """Stable Diffusion's noise schedule and DDIM sampler settings."""
    return dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                set_alpha_to_one=False, steps_offset=1, num_train_timesteps=1000)


def load_tokenizer():
    """CLIP's real BPE tokenizer, padding to :data:`MAX_TOKENS`."""
    from actionbench.tokenizer import clip_tokenizer

    tokenizer = clip_tokenizer(cache_dir("tokenizers", "clip"))
    tokenizer.model_max_length = MAX_TOKENS
    return tokenizer


def mini_pipeline_path() -> Path:
    """The shipped pipeline, assembled (weights + CLIP tokenizer) once into the cache; its folder."""
    index = PIPELINE_DIR / "model_index.json"
    if not index.is_file():
        raise ActionBenchError(
            f"ActionBench-Mini's weights are missing ({PIPELINE_DIR})",
            "reinstall the package, or train them: actionbench mini train --component vae|unet, then "
            "actionbench mini export")
    # Content hashes (not sizes: re-exported weights of the same architecture have the same sizes).
    version = stable_hash({p.relative_to(PIPELINE_DIR).as_posix(): file_sha256(p)
                           for p in sorted(PIPELINE_DIR.rglob("*")) if p.is_file()})
    folder = cache_dir("base-models") / f"mini-{version}"
    if (folder / "model_index.json").is_file():
        return folder
    with atomic_folder(folder) as build:
        shutil.copytree(PIPELINE_DIR, build)
        load_tokenizer().save_pretrained(str(build / "tokenizer"))
    return folder
